//! Calling a test stack's HTTP API: requests with the API key (or as a named person, or with
//! no key at all), each answer read as its status code and JSON body.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::stack::TestStack;

/// The API key every test stack uses.
pub const API_KEY: &str = "test-api-key-0123456789abcdef";

impl TestStack {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(
            self.http
                .get(self.url(path))
                .header("x-ferry-apikey", API_KEY),
        )
        .await
    }

    /// A `GET` with query parameters, each encoded as a URL needs it.
    pub async fn get_with_query(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let url = reqwest::Url::parse_with_params(&self.url(path), query).expect("a URL");
        send(self.http.get(url).header("x-ferry-apikey", API_KEY)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.post(self.url(path));
        send(request.header("x-ferry-apikey", API_KEY).json(body)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = self.http.post(self.url(path));
        send(
            request
                .header("x-ferry-apikey", API_KEY)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.put(self.url(path));
        send(request.header("x-ferry-apikey", API_KEY).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        send(
            self.http
                .delete(self.url(path))
                .header("x-ferry-apikey", API_KEY),
        )
        .await
    }

    /// Calls the API as a named person (HTTP Basic: the user name is the actor).
    pub async fn post_as(&self, user: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.post(self.url(path));
        send(request.basic_auth(user, Some(API_KEY)).json(body)).await
    }

    /// A page (HTML) as a named person sees it.
    pub async fn get_page_as(&self, user: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(self.url(path))
            .basic_auth(user, Some(API_KEY))
            .send()
            .await
            .expect("calling the API");
        let status = response.status();
        (status, response.text().await.expect("reading the page"))
    }

    /// Calls the API presenting no key at all.
    pub async fn get_without_key(&self, path: &str) -> (StatusCode, Value) {
        send(self.http.get(self.url(path))).await
    }
}

/// Sends a request to the stack's API and reads the answer.
async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    read(request.send().await.expect("calling the API")).await
}

/// An answer's status and body: its JSON, or its text as a JSON string when it is not JSON.
async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("reading the response");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

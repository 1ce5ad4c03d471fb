//! Octopus's "Deploy to NGINX" on a target: one site file rendered from the request
//! (`render`), written over the previous one, validated and reloaded, and the previous file put
//! back exactly when NGINX refuses the new one (`apply`), so NGINX keeps serving the old site.

mod apply;
mod render;

pub use apply::apply;
pub use render::render;

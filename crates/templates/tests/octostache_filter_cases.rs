//! Octostache's own filter tests, ported as table cases: the version filters, the hashes with
//! their options, `UriPart`, date arithmetic, and the edge cases of the text filters. The
//! expected outputs are those of `OctopusDeploy/Octostache`'s `FiltersFixture` and
//! `VersionFixture` (where Octostache leaves a tag as written, Ferry does so in lenient mode
//! and fails in strict mode; such templates are written with quoted options, the form
//! Octostache echoes).

#![allow(clippy::unwrap_used)]

mod support;

use TemplateErrorKind::FilterArgument;
use ferry_templates::TemplateErrorKind;
use support::*;

const BAR: Vars = &[("foo", "bar")];
const DEF: Vars = &[("foo", "abc def")];
const OCTOPUS_DEPLOY: Vars = &[("foo", "Octopus Deploy")];
const DATE: Vars = &[("Date", "2030-05-22 09:05:00"), ("Invalid", "hello World")];

#[rustfmt::skip]
fn version_cases() -> Vec<Case> {
    vec![
        // "1"
        ok("#{Version | VersionMajor}", &[("Version", "1")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "1")], "0"),
        ok("#{Version | VersionPatch}", &[("Version", "1")], "0"),
        ok("#{Version | VersionRevision}", &[("Version", "1")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "1")], ""),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "1")], ""),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "1")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "1")], ""),
        // "1.2"
        ok("#{Version | VersionMajor}", &[("Version", "1.2")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "1.2")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "1.2")], "0"),
        ok("#{Version | VersionRevision}", &[("Version", "1.2")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "1.2")], ""),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "1.2")], ""),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "1.2")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "1.2")], ""),
        // "1.2.3"
        ok("#{Version | VersionMajor}", &[("Version", "1.2.3")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "1.2.3")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "1.2.3")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "1.2.3")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "1.2.3")], ""),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "1.2.3")], ""),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "1.2.3")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "1.2.3")], ""),
        // "1.2.3.4"
        ok("#{Version | VersionMajor}", &[("Version", "1.2.3.4")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "1.2.3.4")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "1.2.3.4")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "1.2.3.4")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "1.2.3.4")], ""),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "1.2.3.4")], ""),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "1.2.3.4")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "1.2.3.4")], ""),
        // "1.2.3.4-branch.1"
        ok("#{Version | VersionMajor}", &[("Version", "1.2.3.4-branch.1")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "1.2.3.4-branch.1")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "1.2.3.4-branch.1")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "1.2.3.4-branch.1")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "1.2.3.4-branch.1")], "branch.1"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "1.2.3.4-branch.1")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "1.2.3.4-branch.1")], "1"),
        ok("#{Version | VersionMetadata}", &[("Version", "1.2.3.4-branch.1")], ""),
        // "1.2.3.4-branch.1+meta"
        ok("#{Version | VersionMajor}", &[("Version", "1.2.3.4-branch.1+meta")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "1.2.3.4-branch.1+meta")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "1.2.3.4-branch.1+meta")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "1.2.3.4-branch.1+meta")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "1.2.3.4-branch.1+meta")], "branch.1"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "1.2.3.4-branch.1+meta")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "1.2.3.4-branch.1+meta")], "1"),
        ok("#{Version | VersionMetadata}", &[("Version", "1.2.3.4-branch.1+meta")], "meta"),
        // "v1.2.3.4-branch.1+meta"
        ok("#{Version | VersionMajor}", &[("Version", "v1.2.3.4-branch.1+meta")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "v1.2.3.4-branch.1+meta")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "v1.2.3.4-branch.1+meta")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "v1.2.3.4-branch.1+meta")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "v1.2.3.4-branch.1+meta")], "branch.1"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "v1.2.3.4-branch.1+meta")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "v1.2.3.4-branch.1+meta")], "1"),
        ok("#{Version | VersionMetadata}", &[("Version", "v1.2.3.4-branch.1+meta")], "meta"),
        // "V1.2.3.4-branch.1+meta"
        ok("#{Version | VersionMajor}", &[("Version", "V1.2.3.4-branch.1+meta")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "V1.2.3.4-branch.1+meta")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "V1.2.3.4-branch.1+meta")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "V1.2.3.4-branch.1+meta")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "V1.2.3.4-branch.1+meta")], "branch.1"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "V1.2.3.4-branch.1+meta")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "V1.2.3.4-branch.1+meta")], "1"),
        ok("#{Version | VersionMetadata}", &[("Version", "V1.2.3.4-branch.1+meta")], "meta"),
        // "V1.2.3.4-branch.hithere+meta"
        ok("#{Version | VersionMajor}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "branch.hithere"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "hithere"),
        ok("#{Version | VersionMetadata}", &[("Version", "V1.2.3.4-branch.hithere+meta")], "meta"),
        // "V1.2.3.4-branch-hithere+meta"
        ok("#{Version | VersionMajor}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "branch-hithere"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "hithere"),
        ok("#{Version | VersionMetadata}", &[("Version", "V1.2.3.4-branch-hithere+meta")], "meta"),
        // "V1.2.3.4-branch_hithere+meta"
        ok("#{Version | VersionMajor}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "4"),
        ok("#{Version | VersionPreRelease}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "branch_hithere"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "branch"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "hithere"),
        ok("#{Version | VersionMetadata}", &[("Version", "V1.2.3.4-branch_hithere+meta")], "meta"),
        // "19.0.0.Final"
        ok("#{Version | VersionMajor}", &[("Version", "19.0.0.Final")], "19"),
        ok("#{Version | VersionMinor}", &[("Version", "19.0.0.Final")], "0"),
        ok("#{Version | VersionPatch}", &[("Version", "19.0.0.Final")], "0"),
        ok("#{Version | VersionRevision}", &[("Version", "19.0.0.Final")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "19.0.0.Final")], "Final"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "19.0.0.Final")], "Final"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "19.0.0.Final")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "19.0.0.Final")], ""),
        // "284.0.0-debian_component_based"
        ok("#{Version | VersionMajor}", &[("Version", "284.0.0-debian_component_based")], "284"),
        ok("#{Version | VersionMinor}", &[("Version", "284.0.0-debian_component_based")], "0"),
        ok("#{Version | VersionPatch}", &[("Version", "284.0.0-debian_component_based")], "0"),
        ok("#{Version | VersionRevision}", &[("Version", "284.0.0-debian_component_based")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "284.0.0-debian_component_based")], "debian_component_based"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "284.0.0-debian_component_based")], "debian"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "284.0.0-debian_component_based")], "component_based"),
        ok("#{Version | VersionMetadata}", &[("Version", "284.0.0-debian_component_based")], ""),
        // "latest"
        ok("#{Version | VersionMajor}", &[("Version", "latest")], "0"),
        ok("#{Version | VersionMinor}", &[("Version", "latest")], "0"),
        ok("#{Version | VersionPatch}", &[("Version", "latest")], "0"),
        ok("#{Version | VersionRevision}", &[("Version", "latest")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "latest")], "latest"),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "latest")], "latest"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "latest")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "latest")], ""),
        // "v1"
        ok("#{Version | VersionMajor}", &[("Version", "v1")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "v1")], "0"),
        ok("#{Version | VersionPatch}", &[("Version", "v1")], "0"),
        ok("#{Version | VersionRevision}", &[("Version", "v1")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "v1")], ""),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "v1")], ""),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "v1")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "v1")], ""),
        // "v1.2.3"
        ok("#{Version | VersionMajor}", &[("Version", "v1.2.3")], "1"),
        ok("#{Version | VersionMinor}", &[("Version", "v1.2.3")], "2"),
        ok("#{Version | VersionPatch}", &[("Version", "v1.2.3")], "3"),
        ok("#{Version | VersionRevision}", &[("Version", "v1.2.3")], "0"),
        ok("#{Version | VersionPreRelease}", &[("Version", "v1.2.3")], ""),
        ok("#{Version | VersionPreReleasePrefix}", &[("Version", "v1.2.3")], ""),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "v1.2.3")], ""),
        ok("#{Version | VersionMetadata}", &[("Version", "v1.2.3")], ""),
        ok("#{Version | VersionMajor}", &[("Version", "v2.0.1-beta.3")], "2"),
        ok("#{Version | VersionPreRelease}", &[("Version", "v2.0.1-beta.3")], "beta.3"),
        ok("#{Version | VersionPreReleaseCounter}", &[("Version", "v2.0.1-beta.3")], "3"),
        ok("#{Version | VersionMinor}", &[("Version", " 1 . 2 . 3 ")], "2"),
        fails("#{Version | VersionMajor}", &[("Version", "1.0+a b")], FilterArgument, (1, 1), "cannot read `1.0+a b` as a version"),
        lenient("#{Version | VersionMajor}", &[("Version", "1.0+a b")], "#{Version | VersionMajor}"),
        fails("#{Version | VersionMajor}", &[("Version", "")], FilterArgument, (1, 1), "the value is empty"),
        lenient("#{Missing | VersionMajor}", &[], "#{Missing | VersionMajor}"),
    ]
}

#[rustfmt::skip]
fn hash_cases() -> Vec<Case> {
    vec![
        // Md5.
        ok("#{foo | Md5}", &[("foo", "")], "d41d8cd98f00b204e9800998ecf8427e"),
        ok("#{foo | Md5}", &[("foo", "The quick brown fox jumps over the lazy dog")], "9e107d9d372bb6826bd81d3542a419d6"),
        ok("#{foo | Md5}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "e4d909c290d0fb1ca068ffaddf22cbd0"),
        ok("#{foo | Md5 4}", &[("foo", "")], "d41d8cd9"),
        ok("#{foo | Md5 3}", &[("foo", "The quick brown fox jumps over the lazy dog")], "9e107d"),
        ok("#{foo | Md5 800}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "e4d909c290d0fb1ca068ffaddf22cbd0"),
        ok("#{foo | Md5 utf8}", &[("foo", "")], "d41d8cd98f00b204e9800998ecf8427e"),
        ok("#{foo | Md5 utf-8}", &[("foo", "")], "d41d8cd98f00b204e9800998ecf8427e"),
        ok("#{foo | Md5 unicode}", &[("foo", "")], "d41d8cd98f00b204e9800998ecf8427e"),
        ok("#{foo | Md5 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "b0986ae6ee1eefee8a4a399090126837"),
        ok("#{foo | Md5 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "e4d909c290d0fb1ca068ffaddf22cbd0"),
        ok("#{foo | Md5 base64}", &[("foo", "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==")], "9e107d9d372bb6826bd81d3542a419d6"),
        ok("#{foo | Md5 utf8 4}", &[("foo", "")], "d41d8cd9"),
        ok("#{foo | Md5 4 utf8}", &[("foo", "")], "d41d8cd9"),
        ok("#{foo | Md5 utf-8 5}", &[("foo", "")], "d41d8cd98f"),
        ok("#{foo | Md5 5 utf-8}", &[("foo", "")], "d41d8cd98f"),
        ok("#{foo | Md5 unicode 3}", &[("foo", "")], "d41d8c"),
        ok("#{foo | Md5 3 unicode}", &[("foo", "")], "d41d8c"),
        ok("#{foo | Md5 unicode 800}", &[("foo", "The quick brown fox jumps over the lazy dog")], "b0986ae6ee1eefee8a4a399090126837"),
        ok("#{foo | Md5 800 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "b0986ae6ee1eefee8a4a399090126837"),
        ok("#{foo | Md5 utf8 2}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "e4d9"),
        ok("#{foo | Md5 2 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "e4d9"),
        lenient("#{foo | Md5 \"-1\"}", BAR, "#{foo | Md5 \"-1\"}"),
        lenient("#{foo | Md5 \"0\"}", BAR, "#{foo | Md5 \"0\"}"),
        lenient("#{foo | Md5 \"bar\"}", BAR, "#{foo | Md5 \"bar\"}"),
        lenient("#{foo | Md5 \"utf8\" \"0\"}", BAR, "#{foo | Md5 \"utf8\" \"0\"}"),
        lenient("#{foo | Md5 \"0\" \"utf8\"}", BAR, "#{foo | Md5 \"0\" \"utf8\"}"),
        lenient("#{foo | Md5 \"bar\" \"12\"}", BAR, "#{foo | Md5 \"bar\" \"12\"}"),
        lenient("#{foo | Md5 \"12\" \"bar\"}", BAR, "#{foo | Md5 \"12\" \"bar\"}"),
        lenient("#{foo | Md5 \"utf8\" \"12\" \"extra\"}", BAR, "#{foo | Md5 \"utf8\" \"12\" \"extra\"}"),
        lenient("#{foo | Md5 \"12\" \"utf8\" \"extra\"}", BAR, "#{foo | Md5 \"12\" \"utf8\" \"extra\"}"),
        lenient("#{foo | Md5 \"base64\"}", BAR, "#{foo | Md5 \"base64\"}"),
        lenient("#{ | Md5}", BAR, "#{ | Md5}"),
        fails("#{foo | Md5 bar}", BAR, FilterArgument, (1, 1), "filter `Md5` takes a digest size"),
        // Sha1.
        ok("#{foo | Sha1}", &[("foo", "")], "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ok("#{foo | Sha1}", &[("foo", "The quick brown fox jumps over the lazy dog")], "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
        ok("#{foo | Sha1}", &[("foo", "The quick brown fox jumps over the lazy cog")], "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3"),
        ok("#{foo | Sha1 4}", &[("foo", "")], "da39a3ee"),
        ok("#{foo | Sha1 3}", &[("foo", "The quick brown fox jumps over the lazy dog")], "2fd4e1"),
        ok("#{foo | Sha1 800}", &[("foo", "The quick brown fox jumps over the lazy cog")], "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3"),
        ok("#{foo | Sha1 utf8}", &[("foo", "")], "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ok("#{foo | Sha1 utf-8}", &[("foo", "")], "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ok("#{foo | Sha1 unicode}", &[("foo", "")], "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ok("#{foo | Sha1 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "bd136cb58899c93173c33a90dde95ead0d0cf6df"),
        ok("#{foo | Sha1 utf8}", &[("foo", "The quick brown fox jumps over the lazy cog")], "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3"),
        ok("#{foo | Sha1 base64}", &[("foo", "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==")], "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
        ok("#{foo | Sha1 utf8 4}", &[("foo", "")], "da39a3ee"),
        ok("#{foo | Sha1 4 utf8}", &[("foo", "")], "da39a3ee"),
        ok("#{foo | Sha1 utf-8 5}", &[("foo", "")], "da39a3ee5e"),
        ok("#{foo | Sha1 5 utf-8}", &[("foo", "")], "da39a3ee5e"),
        ok("#{foo | Sha1 unicode 3}", &[("foo", "")], "da39a3"),
        ok("#{foo | Sha1 3 unicode}", &[("foo", "")], "da39a3"),
        ok("#{foo | Sha1 unicode 800}", &[("foo", "The quick brown fox jumps over the lazy dog")], "bd136cb58899c93173c33a90dde95ead0d0cf6df"),
        ok("#{foo | Sha1 800 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "bd136cb58899c93173c33a90dde95ead0d0cf6df"),
        ok("#{foo | Sha1 utf8 2}", &[("foo", "The quick brown fox jumps over the lazy cog")], "de9f"),
        ok("#{foo | Sha1 2 utf8}", &[("foo", "The quick brown fox jumps over the lazy cog")], "de9f"),
        lenient("#{foo | Sha1 \"-1\"}", BAR, "#{foo | Sha1 \"-1\"}"),
        lenient("#{foo | Sha1 \"0\"}", BAR, "#{foo | Sha1 \"0\"}"),
        lenient("#{foo | Sha1 \"bar\"}", BAR, "#{foo | Sha1 \"bar\"}"),
        lenient("#{foo | Sha1 \"utf8\" \"0\"}", BAR, "#{foo | Sha1 \"utf8\" \"0\"}"),
        lenient("#{foo | Sha1 \"0\" \"utf8\"}", BAR, "#{foo | Sha1 \"0\" \"utf8\"}"),
        lenient("#{foo | Sha1 \"bar\" \"12\"}", BAR, "#{foo | Sha1 \"bar\" \"12\"}"),
        lenient("#{foo | Sha1 \"12\" \"bar\"}", BAR, "#{foo | Sha1 \"12\" \"bar\"}"),
        lenient("#{foo | Sha1 \"utf8\" \"12\" \"extra\"}", BAR, "#{foo | Sha1 \"utf8\" \"12\" \"extra\"}"),
        lenient("#{foo | Sha1 \"12\" \"utf8\" \"extra\"}", BAR, "#{foo | Sha1 \"12\" \"utf8\" \"extra\"}"),
        lenient("#{foo | Sha1 \"base64\"}", BAR, "#{foo | Sha1 \"base64\"}"),
        lenient("#{ | Sha1}", BAR, "#{ | Sha1}"),
        fails("#{foo | Sha1 bar}", BAR, FilterArgument, (1, 1), "filter `Sha1` takes a digest size"),
        // Sha256.
        ok("#{foo | Sha256}", &[("foo", "")], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ok("#{foo | Sha256}", &[("foo", "The quick brown fox jumps over the lazy dog")], "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
        ok("#{foo | Sha256}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"),
        ok("#{foo | Sha256 4}", &[("foo", "")], "e3b0c442"),
        ok("#{foo | Sha256 3}", &[("foo", "The quick brown fox jumps over the lazy dog")], "d7a8fb"),
        ok("#{foo | Sha256 800}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"),
        ok("#{foo | Sha256 utf8}", &[("foo", "")], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ok("#{foo | Sha256 utf-8}", &[("foo", "")], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ok("#{foo | Sha256 unicode}", &[("foo", "")], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ok("#{foo | Sha256 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "3b5b0eac46c8f0c16fa1b9c187abc8379cc936f6508892969d49234c6c540e58"),
        ok("#{foo | Sha256 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"),
        ok("#{foo | Sha256 base64}", &[("foo", "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==")], "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
        ok("#{foo | Sha256 utf8 4}", &[("foo", "")], "e3b0c442"),
        ok("#{foo | Sha256 4 utf8}", &[("foo", "")], "e3b0c442"),
        ok("#{foo | Sha256 utf-8 5}", &[("foo", "")], "e3b0c44298"),
        ok("#{foo | Sha256 5 utf-8}", &[("foo", "")], "e3b0c44298"),
        ok("#{foo | Sha256 unicode 3}", &[("foo", "")], "e3b0c4"),
        ok("#{foo | Sha256 3 unicode}", &[("foo", "")], "e3b0c4"),
        ok("#{foo | Sha256 unicode 800}", &[("foo", "The quick brown fox jumps over the lazy dog")], "3b5b0eac46c8f0c16fa1b9c187abc8379cc936f6508892969d49234c6c540e58"),
        ok("#{foo | Sha256 800 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "3b5b0eac46c8f0c16fa1b9c187abc8379cc936f6508892969d49234c6c540e58"),
        ok("#{foo | Sha256 utf8 2}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ef53"),
        ok("#{foo | Sha256 2 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ef53"),
        lenient("#{foo | Sha256 \"-1\"}", BAR, "#{foo | Sha256 \"-1\"}"),
        lenient("#{foo | Sha256 \"0\"}", BAR, "#{foo | Sha256 \"0\"}"),
        lenient("#{foo | Sha256 \"bar\"}", BAR, "#{foo | Sha256 \"bar\"}"),
        lenient("#{foo | Sha256 \"utf8\" \"0\"}", BAR, "#{foo | Sha256 \"utf8\" \"0\"}"),
        lenient("#{foo | Sha256 \"base64\"}", BAR, "#{foo | Sha256 \"base64\"}"),
        lenient("#{ | Sha256}", BAR, "#{ | Sha256}"),
        fails("#{foo | Sha256 bar}", BAR, FilterArgument, (1, 1), "filter `Sha256` takes a digest size"),
        // Sha384.
        ok("#{foo | Sha384}", &[("foo", "")], "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
        ok("#{foo | Sha384}", &[("foo", "The quick brown fox jumps over the lazy dog")], "ca737f1014a48f4c0b6dd43cb177b0afd9e5169367544c494011e3317dbf9a509cb1e5dc1e85a941bbee3d7f2afbc9b1"),
        ok("#{foo | Sha384}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ed892481d8272ca6df370bf706e4d7bc1b5739fa2177aae6c50e946678718fc67a7af2819a021c2fc34e91bdb63409d7"),
        ok("#{foo | Sha384 4}", &[("foo", "")], "38b060a7"),
        ok("#{foo | Sha384 3}", &[("foo", "The quick brown fox jumps over the lazy dog")], "ca737f"),
        ok("#{foo | Sha384 800}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ed892481d8272ca6df370bf706e4d7bc1b5739fa2177aae6c50e946678718fc67a7af2819a021c2fc34e91bdb63409d7"),
        ok("#{foo | Sha384 utf8}", &[("foo", "")], "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
        ok("#{foo | Sha384 utf-8}", &[("foo", "")], "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
        ok("#{foo | Sha384 unicode}", &[("foo", "")], "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
        ok("#{foo | Sha384 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "882ab99315b04348e3c7d0bcef46ec8ee7e6b418c5f1180f2dd2b0f86b7d26a6b080d25b180e5e96a7d9912abdd831dd"),
        ok("#{foo | Sha384 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ed892481d8272ca6df370bf706e4d7bc1b5739fa2177aae6c50e946678718fc67a7af2819a021c2fc34e91bdb63409d7"),
        ok("#{foo | Sha384 base64}", &[("foo", "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==")], "ca737f1014a48f4c0b6dd43cb177b0afd9e5169367544c494011e3317dbf9a509cb1e5dc1e85a941bbee3d7f2afbc9b1"),
        ok("#{foo | Sha384 utf8 4}", &[("foo", "")], "38b060a7"),
        ok("#{foo | Sha384 4 utf8}", &[("foo", "")], "38b060a7"),
        ok("#{foo | Sha384 utf-8 5}", &[("foo", "")], "38b060a751"),
        ok("#{foo | Sha384 5 utf-8}", &[("foo", "")], "38b060a751"),
        ok("#{foo | Sha384 unicode 3}", &[("foo", "")], "38b060"),
        ok("#{foo | Sha384 3 unicode}", &[("foo", "")], "38b060"),
        ok("#{foo | Sha384 unicode 800}", &[("foo", "The quick brown fox jumps over the lazy dog")], "882ab99315b04348e3c7d0bcef46ec8ee7e6b418c5f1180f2dd2b0f86b7d26a6b080d25b180e5e96a7d9912abdd831dd"),
        ok("#{foo | Sha384 800 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "882ab99315b04348e3c7d0bcef46ec8ee7e6b418c5f1180f2dd2b0f86b7d26a6b080d25b180e5e96a7d9912abdd831dd"),
        ok("#{foo | Sha384 utf8 2}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ed89"),
        ok("#{foo | Sha384 2 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "ed89"),
        lenient("#{foo | Sha384 \"-1\"}", BAR, "#{foo | Sha384 \"-1\"}"),
        lenient("#{foo | Sha384 \"0\"}", BAR, "#{foo | Sha384 \"0\"}"),
        lenient("#{foo | Sha384 \"bar\"}", BAR, "#{foo | Sha384 \"bar\"}"),
        lenient("#{foo | Sha384 \"utf8\" \"0\"}", BAR, "#{foo | Sha384 \"utf8\" \"0\"}"),
        lenient("#{foo | Sha384 \"base64\"}", BAR, "#{foo | Sha384 \"base64\"}"),
        lenient("#{ | Sha384}", BAR, "#{ | Sha384}"),
        fails("#{foo | Sha384 bar}", BAR, FilterArgument, (1, 1), "filter `Sha384` takes a digest size"),
        // Sha512.
        ok("#{foo | Sha512}", &[("foo", "")], "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ok("#{foo | Sha512}", &[("foo", "The quick brown fox jumps over the lazy dog")], "07e547d9586f6a73f73fbac0435ed76951218fb7d0c8d788a309d785436bbb642e93a252a954f23912547d1e8a3b5ed6e1bfd7097821233fa0538f3db854fee6"),
        ok("#{foo | Sha512}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "91ea1245f20d46ae9a037a989f54f1f790f0a47607eeb8a14d12890cea77a1bbc6c7ed9cf205e67b7f2b8fd4c7dfd3a7a8617e45f3c463d481c7e586c39ac1ed"),
        ok("#{foo | Sha512 4}", &[("foo", "")], "cf83e135"),
        ok("#{foo | Sha512 3}", &[("foo", "The quick brown fox jumps over the lazy dog")], "07e547"),
        ok("#{foo | Sha512 800}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "91ea1245f20d46ae9a037a989f54f1f790f0a47607eeb8a14d12890cea77a1bbc6c7ed9cf205e67b7f2b8fd4c7dfd3a7a8617e45f3c463d481c7e586c39ac1ed"),
        ok("#{foo | Sha512 utf8}", &[("foo", "")], "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ok("#{foo | Sha512 utf-8}", &[("foo", "")], "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ok("#{foo | Sha512 unicode}", &[("foo", "")], "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ok("#{foo | Sha512 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "568a357630e3113c3932290749f4323eacee0c46ca02189c52d168ed35e0feeaa79e1a7ae725991df6e7d5e5c8f0877b8f51ab244ba7bde173033ad4de7c36de"),
        ok("#{foo | Sha512 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "91ea1245f20d46ae9a037a989f54f1f790f0a47607eeb8a14d12890cea77a1bbc6c7ed9cf205e67b7f2b8fd4c7dfd3a7a8617e45f3c463d481c7e586c39ac1ed"),
        ok("#{foo | Sha512 base64}", &[("foo", "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==")], "07e547d9586f6a73f73fbac0435ed76951218fb7d0c8d788a309d785436bbb642e93a252a954f23912547d1e8a3b5ed6e1bfd7097821233fa0538f3db854fee6"),
        ok("#{foo | Sha512 utf8 4}", &[("foo", "")], "cf83e135"),
        ok("#{foo | Sha512 4 utf8}", &[("foo", "")], "cf83e135"),
        ok("#{foo | Sha512 utf-8 5}", &[("foo", "")], "cf83e1357e"),
        ok("#{foo | Sha512 5 utf-8}", &[("foo", "")], "cf83e1357e"),
        ok("#{foo | Sha512 unicode 3}", &[("foo", "")], "cf83e1"),
        ok("#{foo | Sha512 3 unicode}", &[("foo", "")], "cf83e1"),
        ok("#{foo | Sha512 unicode 800}", &[("foo", "The quick brown fox jumps over the lazy dog")], "568a357630e3113c3932290749f4323eacee0c46ca02189c52d168ed35e0feeaa79e1a7ae725991df6e7d5e5c8f0877b8f51ab244ba7bde173033ad4de7c36de"),
        ok("#{foo | Sha512 800 unicode}", &[("foo", "The quick brown fox jumps over the lazy dog")], "568a357630e3113c3932290749f4323eacee0c46ca02189c52d168ed35e0feeaa79e1a7ae725991df6e7d5e5c8f0877b8f51ab244ba7bde173033ad4de7c36de"),
        ok("#{foo | Sha512 utf8 2}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "91ea"),
        ok("#{foo | Sha512 2 utf8}", &[("foo", "The quick brown fox jumps over the lazy dog.")], "91ea"),
        lenient("#{foo | Sha512 \"-1\"}", BAR, "#{foo | Sha512 \"-1\"}"),
        lenient("#{foo | Sha512 \"0\"}", BAR, "#{foo | Sha512 \"0\"}"),
        lenient("#{foo | Sha512 \"bar\"}", BAR, "#{foo | Sha512 \"bar\"}"),
        lenient("#{foo | Sha512 \"utf8\" \"0\"}", BAR, "#{foo | Sha512 \"utf8\" \"0\"}"),
        lenient("#{foo | Sha512 \"base64\"}", BAR, "#{foo | Sha512 \"base64\"}"),
        lenient("#{ | Sha512}", BAR, "#{ | Sha512}"),
        fails("#{foo | Sha512 bar}", BAR, FilterArgument, (1, 1), "filter `Sha512` takes a digest size"),
    ]
}

#[rustfmt::skip]
fn uri_cases() -> Vec<Case> {
    vec![
        // Octostache's outputs, which Ferry gives when lenient; strict, they are errors.
        lenient("#{foo | UriPart Host}", &[("foo", "/docs")], "[UriPart Host error: This operation is not supported for a relative URI.]"),
        lenient("#{foo | UriPart}", &[("foo", "https://octopus.com/docs")], "[UriPart error: no argument given]"),
        lenient("#{foo | UriPart bar}", &[("foo", "https://octopus.com/docs")], "[UriPart bar error: argument 'bar' not supported]"),
        fails("#{foo | UriPart Host}", &[("foo", "/docs")], FilterArgument, (1, 1), "filter `UriPart` This operation is not supported for a relative URI."),
        fails("#{foo | UriPart}", &[("foo", "https://octopus.com/docs")], FilterArgument, (1, 1), "filter `UriPart` no argument given"),
        fails("#{foo | UriPart bar}", &[("foo", "https://octopus.com/docs")], FilterArgument, (1, 1), "filter `UriPart` argument 'bar' not supported"),
        ok("#{foo | UriPart AbsolutePath}", &[("foo", "https://octopus.com/docs")], "/docs"),
        ok("#{foo | UriPart AbsoluteUri}", &[("foo", "https://octopus.com/docs")], "https://octopus.com/docs"),
        ok("#{foo | UriPart Authority}", &[("foo", "https://octopus.com/docs")], "octopus.com"),
        ok("#{foo | UriPart DnsSafeHost}", &[("foo", "https://octopus.com/docs")], "octopus.com"),
        ok("#{foo | UriPart Fragment}", &[("foo", "https://octopus.com/docs#filters")], "#filters"),
        ok("#{foo | UriPart Host}", &[("foo", "https://octopus.com/docs")], "octopus.com"),
        ok("#{foo | UriPart HostAndPort}", &[("foo", "https://octopus.com/docs")], "octopus.com:443"),
        ok("#{foo | UriPart HostNameType}", &[("foo", "https://octopus.com/docs")], "Dns"),
        ok("#{foo | UriPart IsAbsoluteUri}", &[("foo", "https://octopus.com/docs")], "true"),
        ok("#{foo | UriPart IsDefaultPort}", &[("foo", "https://octopus.com/docs")], "true"),
        ok("#{foo | UriPart IsFile}", &[("foo", "https://octopus.com/docs")], "false"),
        ok("#{foo | UriPart IsLoopback}", &[("foo", "https://octopus.com/docs")], "false"),
        ok("#{foo | UriPart IsUnc}", &[("foo", "https://octopus.com/docs")], "false"),
        ok("#{foo | UriPart Path}", &[("foo", "https://octopus.com/docs")], "/docs"),
        ok("#{foo | UriPart PathAndQuery}", &[("foo", "https://octopus.com/docs?filter=faq")], "/docs?filter=faq"),
        ok("#{foo | UriPart Port}", &[("foo", "https://octopus.com/docs")], "443"),
        ok("#{foo | UriPart Query}", &[("foo", "https://octopus.com/docs?filter=faq")], "?filter=faq"),
        ok("#{foo | UriPart Scheme}", &[("foo", "https://octopus.com/docs")], "https"),
        ok("#{foo | UriPart SchemeAndServer}", &[("foo", "https://octopus.com/docs")], "https://octopus.com"),
        ok("#{foo | UriPart UserInfo}", &[("foo", "https://username:password@octopus.com")], "username:password"),
        // Ferry's own (not Octostache's outputs), read from .NET's `System.Uri`: an explicit port.
        ok("#{foo | UriPart Port}", &[("foo", "http://localhost:8080/api")], "8080"),
        ok("#{foo | UriPart IsDefaultPort}", &[("foo", "http://localhost:8080/api")], "false"),
        ok("#{foo | UriPart Authority}", &[("foo", "http://localhost:8080/api")], "localhost:8080"),
        ok("#{foo | UriPart IsLoopback}", &[("foo", "http://localhost:8080/api")], "true"),
        ok("#{foo | UriPart SchemeAndServer}", &[("foo", "http://localhost:8080/api")], "http://localhost:8080"),
        ok("#{foo | UriPart HostNameType}", &[("foo", "http://10.0.0.1/")], "IPv4"),
        ok("#{foo | UriPart IsAbsoluteUri}", &[("foo", "/docs")], "false"),
        ok("#{foo | UriPart Query}", &[("foo", "https://octopus.com/docs")], ""),
        ok("#{foo | UriPart Path}", &[("foo", "https://octopus.com/a%20b")], "/a b"),
        ok("#{foo | UriPart AbsolutePath}", &[("foo", "https://octopus.com/a%20b")], "/a%20b"),
        ok("#{foo | UriPart Scheme}", &[("foo", "HTTPS://Octopus.com/")], "https"),
        ok("#{foo | UriPart Host}", &[("foo", "HTTPS://Octopus.com/")], "octopus.com"),
    ]
}

#[rustfmt::skip]
fn date_arithmetic_cases() -> Vec<Case> {
    vec![
        // AddHours and AddDays, as Octostache's FiltersFixture has them.
        ok("#{Date | AddHours 2 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-22 11:05:00"),
        ok("#{Date | AddHours -2 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-22 07:05:00"),
        ok("#{Date | AddHours 0 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-22 09:05:00"),
        ok("#{Date | AddHours \"1.5\" | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-22 10:35:00"),
        ok("#{Date | AddHours 24 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-23 09:05:00"),
        ok("#{Date | AddDays 1 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-23 09:05:00"),
        ok("#{Date | AddDays -1 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-21 09:05:00"),
        ok("#{Date | AddDays 10 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-06-01 09:05:00"),
        ok("#{Date | AddDays \"0.5\" | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-22 21:05:00"),
        ok("#{Date | AddDays 1 | AddHours 2 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-23 11:05:00"),
        ok("#{Date | AddHours #{ChangeWindowHours}}", &[("Date", "2030-05-22 09:05:00"), ("ChangeWindowHours", "8")], "2030-05-22T17:05:00.0000000"),
        ok("#{EndDate}", &[("Date", "2030-05-22 09:05:00"), ("EndDate", "#{Date | AddHours 8 | Format \"yyyy-MM-dd HH:mm:ss\"}")], "2030-05-22 17:05:00"),
        ok("#{Date | AddHours 2}", &[("Date", "2030-05-22T09:05:00+02:00")], "2030-05-22T11:05:00.0000000+02:00"),
        ok("#{ | NowDateUtc | AddHours 2 | Format DateTimeOffset zz}", &[], "+00"),
        // Ferry reads the clock from `Options::now` (2024-03-05T06:07:08.123Z in these tables).
        ok("#{ | NowDate | AddHours 2}", &[], "2024-03-05T08:07:08.1230000"),
        ok("#{ | NowDateUtc | AddDays -1}", &[], "2024-03-04T06:07:08.1230000Z"),
        ok("#{Date | AddDays 1}", &[("Date", "2030-05-22T09:05:00Z")], "2030-05-23T09:05:00.0000000Z"),
        // What Octostache echoes: no amount, too many, not a number, not a date, no input.
        lenient("#{Date | AddHours}", DATE, "#{Date | AddHours}"),
        lenient("#{Date | AddHours \"2\" \"3\"}", DATE, "#{Date | AddHours \"2\" \"3\"}"),
        lenient("#{Date | AddHours \"abc\"}", DATE, "#{Date | AddHours \"abc\"}"),
        lenient("#{Invalid | AddHours \"2\"}", DATE, "#{Invalid | AddHours \"2\"}"),
        lenient("#{ | AddHours \"2\"}", DATE, "#{ | AddHours \"2\"}"),
        lenient("#{Date | AddDays}", DATE, "#{Date | AddDays}"),
        lenient("#{Date | AddDays \"abc\"}", DATE, "#{Date | AddDays \"abc\"}"),
        lenient("#{Invalid | AddDays \"2\"}", DATE, "#{Invalid | AddDays \"2\"}"),
        fails("#{Date | AddHours}", DATE, FilterArgument, (1, 1), "filter `AddHours` takes one argument, the amount to add"),
        fails("#{Date | AddDays abc}", DATE, FilterArgument, (1, 1), "filter `AddDays` needs a number to add, not `abc`"),
        fails("#{Invalid | AddDays 2}", DATE, FilterArgument, (1, 1), "cannot read `hello World` as a date"),
        fails("#{ | AddHours 2}", DATE, FilterArgument, (1, 1), "filter `AddHours` has no value to work on"),
        // Ferry's AddYears, AddMonths, AddMinutes and AddSeconds (not in Octostache, which would
        // echo them) follow the same rules, with .NET's calendar arithmetic for months.
        ok("#{Date | AddMinutes 90 | Format \"yyyy-MM-dd HH:mm:ss\"}", DATE, "2030-05-22 10:35:00"),
        ok("#{Date | AddSeconds \"-0.5\" | Format \"HH:mm:ss.fff\"}", DATE, "09:04:59.500"),
        ok("#{Date | AddMonths 1 | Format \"yyyy-MM-dd\"}", DATE, "2030-06-22"),
        ok("#{Date | AddMonths 1}", &[("Date", "2030-01-31")], "2030-02-28T00:00:00.0000000"),
        ok("#{Date | AddYears -1 | Format yyyy}", DATE, "2029"),
        fails("#{Date | AddMonths \"1.5\"}", DATE, FilterArgument, (1, 1), "needs a whole number"),
    ]
}

#[rustfmt::skip]
fn text_cases() -> Vec<Case> {
    vec![
        ok("#{foo | Match abc}", DEF, "true"),
        ok("#{foo | Match cba}", DEF, "false"),
        ok("#{foo | Match ABC}", DEF, "false"),
        ok("#{foo | Match \"abc def\"}", DEF, "true"),
        ok("#{foo | Match \"abc'def\"}", &[("foo", "abc'def")], "true"),
        lenient("#{foo | Match}", DEF, "#{foo | Match}"),
        fails("#{foo | Match}", DEF, FilterArgument, (1, 1), "filter `Match` needs one argument"),
        lenient("#{foo | Match \"a\" \"b\"}", DEF, "#{foo | Match \"a\" \"b\"}"),
        fails("#{foo | Match a b}", DEF, FilterArgument, (1, 1), "filter `Match` takes one argument, but was given 2"),
        ok("#{foo | StartsWith abc}", DEF, "true"),
        ok("#{foo | StartsWith bc}", DEF, "false"),
        ok("#{foo | StartsWith ABC}", DEF, "false"),
        ok("#{foo | StartsWith \"abc d\"}", DEF, "true"),
        ok("#{foo | StartsWith \"abc'\"}", &[("foo", "abc'def")], "true"),
        lenient("#{foo | StartsWith}", DEF, "#{foo | StartsWith}"),
        fails("#{foo | StartsWith}", DEF, FilterArgument, (1, 1), "filter `StartsWith` needs one argument"),
        lenient("#{foo | StartsWith \"a\" \"b\"}", DEF, "#{foo | StartsWith \"a\" \"b\"}"),
        fails("#{foo | StartsWith a b}", DEF, FilterArgument, (1, 1), "filter `StartsWith` takes one argument, but was given 2"),
        ok("#{foo | EndsWith def}", DEF, "true"),
        ok("#{foo | EndsWith de}", DEF, "false"),
        ok("#{foo | EndsWith DEF}", DEF, "false"),
        ok("#{foo | EndsWith \"c def\"}", DEF, "true"),
        ok("#{foo | EndsWith \"'def\"}", &[("foo", "abc'def")], "true"),
        lenient("#{foo | EndsWith}", DEF, "#{foo | EndsWith}"),
        fails("#{foo | EndsWith}", DEF, FilterArgument, (1, 1), "filter `EndsWith` needs one argument"),
        lenient("#{foo | EndsWith \"a\" \"b\"}", DEF, "#{foo | EndsWith \"a\" \"b\"}"),
        fails("#{foo | EndsWith a b}", DEF, FilterArgument, (1, 1), "filter `EndsWith` takes one argument, but was given 2"),
        ok("#{foo | Contains de}", DEF, "true"),
        ok("#{foo | Contains ed}", DEF, "false"),
        ok("#{foo | Contains ABC}", DEF, "false"),
        ok("#{foo | Contains \"c de\"}", DEF, "true"),
        ok("#{foo | Contains \"'de\"}", &[("foo", "abc'def")], "true"),
        lenient("#{foo | Contains}", DEF, "#{foo | Contains}"),
        fails("#{foo | Contains}", DEF, FilterArgument, (1, 1), "filter `Contains` needs one argument"),
        lenient("#{foo | Contains \"a\" \"b\"}", DEF, "#{foo | Contains \"a\" \"b\"}"),
        fails("#{foo | Contains a b}", DEF, FilterArgument, (1, 1), "filter `Contains` takes one argument, but was given 2"),
        ok("#{foo | Match \".*\"}", DEF, "true"),
        ok("#{foo | Match \"[0-9]+\"}", &[("foo", "abc def1")], "true"),
        ok("#{foo | Match \"c\\(d\"}", &[("foo", "abc(def")], "true"),
        ok("#{foo | Match #{regex}}", &[("foo", "abc def"), ("regex", "def")], "true"),
        ok("#{foo | StartsWith #{str}}", &[("foo", "abc def"), ("str", "abc")], "true"),
        ok("#{foo | EndsWith #{str}}", &[("foo", "abc def"), ("str", "def")], "true"),
        ok("#{foo | Contains #{str}}", &[("foo", "abc def"), ("str", "c d")], "true"),
        // Substring.
        lenient("#{foo | Substring}", &[("foo", "ababa")], "#{foo | Substring}"),
        fails("#{foo | Substring}", &[("foo", "ababa")], FilterArgument, (1, 1), "takes a length, or a start and a length"),
        lenient("#{foo | Substring \"1\" \"2\" \"3\"}", &[("foo", "ababa")], "#{foo | Substring \"1\" \"2\" \"3\"}"),
        ok("#{foo | Substring 7}", OCTOPUS_DEPLOY, "Octopus"),
        ok("#{foo | Substring 8 6}", OCTOPUS_DEPLOY, "Deploy"),
        lenient("#{foo | Substring \"a\"}", OCTOPUS_DEPLOY, "#{foo | Substring \"a\"}"),
        lenient("#{foo | Substring \"0\" \"a\"}", OCTOPUS_DEPLOY, "#{foo | Substring \"0\" \"a\"}"),
        lenient("#{foo | Substring \"-1\"}", OCTOPUS_DEPLOY, "#{foo | Substring \"-1\"}"),
        lenient("#{foo | Substring \"0\" \"-1\"}", OCTOPUS_DEPLOY, "#{foo | Substring \"0\" \"-1\"}"),
        lenient("#{foo | Substring \"20\" \"5\"}", OCTOPUS_DEPLOY, "#{foo | Substring \"20\" \"5\"}"),
        fails("#{foo | Substring -1}", OCTOPUS_DEPLOY, FilterArgument, (1, 1), "needs a length that is a whole number of at least 0, not `-1`"),
        ok("#{foo | Substring 8 | Trim}", OCTOPUS_DEPLOY, "Octopus"),
        // Truncate.
        lenient("#{foo | Truncate}", OCTOPUS_DEPLOY, "#{foo | Truncate}"),
        fails("#{foo | Truncate}", OCTOPUS_DEPLOY, FilterArgument, (1, 1), "filter `Truncate` needs a length"),
        ok("#{foo | Truncate 50}", OCTOPUS_DEPLOY, "Octopus Deploy"),
        lenient("#{foo | Truncate \"a\"}", OCTOPUS_DEPLOY, "#{foo | Truncate \"a\"}"),
        lenient("#{foo | Truncate \"-1\"}", OCTOPUS_DEPLOY, "#{foo | Truncate \"-1\"}"),
        ok("#{foo | Truncate 7}", OCTOPUS_DEPLOY, "Octopus..."),
        ok("#{foo | Truncate 7 \"<|>\"}", OCTOPUS_DEPLOY, "Octopus<|>"),
        ok("#{foo | Truncate 7 \"\"}", OCTOPUS_DEPLOY, "Octopus"),
        ok("#{foo | Truncate 50 \"<|>\"}", OCTOPUS_DEPLOY, "Octopus Deploy"),
        // Trim.
        ok("#{foo | Trim}", &[("foo", " Octopus Deploy ")], "Octopus Deploy"),
        ok("#{foo | Trim start}", &[("foo", " Octopus Deploy ")], "Octopus Deploy "),
        ok("#{foo | Trim End}", &[("foo", " Octopus Deploy ")], " Octopus Deploy"),
        lenient("#{foo | Trim \"Both\"}", OCTOPUS_DEPLOY, "#{foo | Trim \"Both\"}"),
        // Append and Prepend.
        ok("#{|Append foo}", &[], "foo"),
        ok("#{|Prepend foo}", &[], "foo"),
        lenient("#{foo | Append}", BAR, "#{foo | Append}"),
        lenient("#{ | Append}", BAR, "#{ | Append}"),
        lenient("#{foo | Prepend}", BAR, "#{foo | Prepend}"),
        lenient("#{ | Prepend}", BAR, "#{ | Prepend}"),
        fails("#{foo | Append}", BAR, FilterArgument, (1, 1), "filter `Append` needs the text to append"),
        ok("#{foo | Append value}", BAR, "barvalue"),
        ok("#{foo | Append value1 value2}", BAR, "barvalue1value2"),
        ok("#{foo | Append value1 \" \" value2}", BAR, "barvalue1 value2"),
        ok("#{foo | Append \" \" #{foo} \" \" value}", BAR, "bar bar value"),
        ok("#{foo | Prepend value}", BAR, "valuebar"),
        ok("#{foo | Prepend value1 value2}", BAR, "value1value2bar"),
        ok("#{foo | Prepend value1 \" \" value2}", BAR, "value1 value2bar"),
        ok("#{foo | Prepend \" \" #{foo} \" \" value}", BAR, " bar valuebar"),
        // Null, and Indent with a `#` in a quoted option.
        fails("#{ | null}", &[("foo", "#{ | null}")], FilterArgument, (1, 1), "filter `Null` gives no value"),
        lenient("#{ | null}", &[], "#{ | null}"),
        ok("#{ foo | Indent \\\"# \\\"}", &[("foo", "Octopus Deploy\nOctopus Deploy\nOctopus Deploy")], "# Octopus Deploy\n# Octopus Deploy\n# Octopus Deploy"),
        lenient("#{ | Indent}", &[("foo", "foo")], "#{ | Indent}"),
    ]
}

#[rustfmt::skip]
fn markdown_cases() -> Vec<Case> {
    vec![
        ok("#{Foo | Markdown}", &[("Foo", "https://octopus.com")], "<p><a href=\"https://octopus.com\">https://octopus.com</a></p>\n\n"),
        ok("#{Foo | MarkdownToHtml}", &[("Foo", "https://octopus.com")], "<p><a href=\"https://octopus.com\">https://octopus.com</a></p>\n\n"),
        ok("#{Foo | Markdown}", &[("Foo", "[Some link](https://octopus.com)")], "<p><a href=\"https://octopus.com\">Some link</a></p>\n\n"),
        ok("#{Foo | MarkdownToHtml}", &[("Foo", "[Some link](https://octopus.com)")], "<p><a href=\"https://octopus.com\">Some link</a></p>\n\n"),
        ok("#{Foo | Markdown}", &[("Foo", "|Header1|Header2|\n|-|-|\n|Cell1|Cell2|")], "<table>\n<thead>\n<tr>\n<th>Header1</th>\n<th>Header2</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>Cell1</td>\n<td>Cell2</td>\n</tr>\n</tbody>\n</table>\n\n"),
        ok("#{Foo | MarkdownToHtml}", &[("Foo", "|Header1|Header2|\n|-|-|\n|Cell1|Cell2|")], "<table>\n<thead>\n<tr>\n<th>Header1</th>\n<th>Header2</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>Cell1</td>\n<td>Cell2</td>\n</tr>\n</tbody>\n</table>\n\n"),
        ok("#{Foo | MarkdownToHtml}", &[("Foo", "_yeah!_")], "<p><em>yeah!</em></p>\n\n"),
        lenient("#{Foo.Bar | Markdown}", &[], "#{Foo.Bar | Markdown}"),
        lenient("#{Foo.Bar | MarkdownToHtml}", &[], "#{Foo.Bar | MarkdownToHtml}"),
        lenient("#{Foo | Markdown \"x\"}", &[("Foo", "a")], "#{Foo | Markdown \"x\"}"),
    ]
}

#[test]
fn markdown_renders_links_and_tables_as_octostache_does() {
    run_table(markdown_cases(), 10);
}

#[test]
fn version_filters_read_versions_as_octopus_does() {
    run_table(version_cases(), 130);
}

#[test]
fn hash_filters_take_octostaches_options() {
    run_table(hash_cases(), 150);
}

#[test]
fn uri_part_answers_as_dotnet_uri_does() {
    run_table(uri_cases(), 30);
}

#[test]
fn date_arithmetic_chains_with_format() {
    run_table(date_arithmetic_cases(), 30);
}

#[test]
fn text_filters_handle_missing_and_extra_arguments_as_octostache_does() {
    run_table(text_cases(), 70);
}

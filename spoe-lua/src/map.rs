//! The `Map` class: a map file loaded in the body context, looked up with one of HAProxy's
//! match methods (`Map._str`, `Map._beg`, `Map._ip`...).

use std::sync::Arc;

use mlua::{Lua, UserData, UserDataMethods};
use spoe::expr::{MatchMethod, Pattern, Sample};

/// A loaded map: its entries in file order.
#[derive(Debug)]
struct Map {
    method: MatchMethod,
    entries: Arc<Vec<(Pattern, String)>>,
}

/// HAProxy's `PAT_MATCH_*` numbers, as the `Map._*` attributes hold them.
const METHODS: [(&str, MatchMethod); 13] = [
    ("found", MatchMethod::Found),
    ("bool", MatchMethod::Bool),
    ("int", MatchMethod::Int),
    ("ip", MatchMethod::Ip),
    ("bin", MatchMethod::Bin),
    ("len", MatchMethod::Len),
    ("str", MatchMethod::Str),
    ("beg", MatchMethod::Beg),
    ("sub", MatchMethod::Sub),
    ("dir", MatchMethod::Dir),
    ("dom", MatchMethod::Dom),
    ("end", MatchMethod::End),
    ("reg", MatchMethod::Reg),
];

impl Map {
    fn load(path: &str, method: MatchMethod) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("'new': failed to load map file '{path}': {e}"))?;
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.find(char::is_whitespace) {
                Some(at) => (&line[..at], line[at..].trim()),
                None => (line, ""),
            };
            let pattern = Pattern::parse(method, key, false)
                .map_err(|e| format!("'new': {path}:{}: {e}", n + 1))?;
            entries.push((pattern, value.to_owned()));
        }
        Ok(Self {
            method,
            entries: Arc::new(entries),
        })
    }

    /// The value of the best entry for `key`: the longest matching network for `ip` (HAProxy
    /// keeps those in a prefix tree), else the first match in file order.
    fn lookup(&self, key: &[u8]) -> Option<&str> {
        let sample = Sample::Str(bytes::Bytes::copy_from_slice(key));
        let mut hits = self
            .entries
            .iter()
            .filter(|(p, _)| p.matches_sample(self.method, false, sample.clone()));
        if self.method != MatchMethod::Ip {
            return hits.next().map(|(_, v)| v.as_str());
        }
        hits.max_by_key(|(p, _)| match p {
            Pattern::Ipv4 { mask, .. } => u32::from(*mask).count_ones(),
            Pattern::Ipv6 { prefix, .. } => *prefix,
            _ => 0,
        })
        .map(|(_, v)| v.as_str())
    }
}

impl UserData for Map {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("lookup", |lua, map, key: mlua::LuaString| {
            map.lookup(&key.as_bytes())
                .map(|v| lua.create_string(v))
                .transpose()
        });
        methods.add_method("slookup", |lua, map, key: mlua::LuaString| {
            lua.create_string(map.lookup(&key.as_bytes()).unwrap_or(""))
        });
    }
}

pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let class = lua.create_table()?;
    for (i, (name, _)) in METHODS.iter().enumerate() {
        class.set(format!("_{name}"), i as i64)?;
        class.set(*name, i as i64)?;
    }
    class.set(
        "new",
        lua.create_function(|_, (file, method): (String, Option<i64>)| {
            let method = method
                .and_then(|m| usize::try_from(m).ok())
                .and_then(|m| METHODS.get(m))
                .map_or(MatchMethod::Str, |(_, m)| *m);
            Map::load(&file, method).map_err(mlua::Error::RuntimeError)
        })?,
    )?;
    lua.globals().set("Map", class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_the_method() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.map");
        std::fs::write(
            &path,
            "# comment\n10.0.0.0/8 wide\n10.1.0.0/16  narrow one\n",
        )
        .unwrap();
        let ip = Map::load(path.to_str().unwrap(), MatchMethod::Ip).unwrap();
        assert_eq!(ip.lookup(b"10.1.2.3"), Some("narrow one"));
        assert_eq!(ip.lookup(b"10.2.2.3"), Some("wide"));
        assert_eq!(ip.lookup(b"192.0.2.1"), None);
        std::fs::write(&path, "/api api\n/ root\n").unwrap();
        let beg = Map::load(path.to_str().unwrap(), MatchMethod::Beg).unwrap();
        assert_eq!(beg.lookup(b"/api/v1"), Some("api"));
        assert_eq!(beg.lookup(b"/x"), Some("root"));
        let lua = Lua::new();
        install(&lua).unwrap();
        lua.globals().set("path", path.to_str().unwrap()).unwrap();
        let got: (Option<String>, String) = lua
            .load("local m = Map.new(path, Map._str) return m:lookup('/api'), m:slookup('/nope')")
            .eval()
            .unwrap();
        assert_eq!(got, (Some("api".to_owned()), String::new()));
    }
}

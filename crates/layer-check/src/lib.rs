//! The kernel's layering, checked on the host: reads `src/`, builds the
//! import graph between its files and reports every edge that points up a
//! layer (the rule the README's "Layout" section writes down).
//!
//! Edges come from what the compiler would resolve: `use` trees (globs,
//! groups, `self`, renames), every path in an expression, type or pattern
//! that starts at `crate`, `super`, `self` or a module declared in scope,
//! paths inside macro arguments, re-exports (`pub use`) followed to the
//! file that defines the name, and calls of `#[macro_export]` macros,
//! mapped to the file that defines them. A module declaration (`mod x;`)
//! is structure, not an edge. Code in a self-test module or file (inline
//! `mod selftests`/`mod tests`, `#[cfg(test)]`, `*selftests.rs`,
//! `selftest/`) sits at the top layer, whatever file holds it.

#![forbid(unsafe_code)]

use proc_macro2::{TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// L0 arch, boot, console, fatal; L1 ACPI tables, time, RCU; L2 the
/// memory core and numa; L3 services; L4 boot order, reports, benchmark,
/// self-tests.
pub type Layer = u8;

/// The layer of a file of `src/` (relative path, `/`-separated), or None
/// for a file the table does not know (itself an error: every new file
/// gets a layer).
pub fn layer_of(file: &str) -> Option<Layer> {
    // The registration record and macros are a leaf every layer may name;
    // the runner beside them is self-test code.
    if file == "selftest/registry.rs" {
        return Some(0);
    }
    if is_test_file(file) {
        return Some(4);
    }
    let l = match file {
        f if f.starts_with("arch/") || f.starts_with("boot/") => 0,
        "console.rs" | "fatal.rs" => 0,
        "acpi/mod.rs" | "acpi/handler.rs" | "time.rs" | "rcu.rs" | "preempt.rs" => 1,
        "mm/mod.rs"
        | "mm/memblock.rs"
        | "mm/early_heap.rs"
        | "mm/page_alloc.rs"
        | "mm/slab.rs"
        | "mm/mempolicy.rs"
        | "mm/vmalloc.rs"
        | "mm/pmem.rs"
        | "mm/frames.rs"
        | "mm/migrate.rs"
        | "mm/fault_inject.rs"
        | "mm/alloc_hooks.rs"
        | "mm/kfence.rs"
        | "mm/memory_hotplug.rs" => 2,
        f if f.starts_with("numa/") => 2,
        f if f.starts_with("sched/") || f.starts_with("smp/") => 3,
        "acpi/aml.rs"
        | "acpi/memory_hotplug.rs"
        | "mm/vmscan.rs"
        | "mm/shrinker.rs"
        | "mm/pagecache.rs"
        | "mm/oom_kill.rs"
        | "mm/reclaim.rs"
        | "mm/compaction.rs"
        | "mm/kcompactd.rs"
        | "mm/memory_offline.rs" => 3,
        "main.rs" | "report.rs" => 4,
        f if f.starts_with("bench/") => 4,
        _ => return None,
    };
    Some(l)
}

fn is_test_file(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    name.ends_with("selftests.rs")
        || name == "selftest_support.rs"
        || file.starts_with("selftest/")
        || file.contains("/selftests/")
}

fn is_test_module(name: &str, attrs: &[syn::Attribute]) -> bool {
    name == "selftests" || name == "tests" || attrs.iter().any(is_cfg_test)
}

fn is_cfg_test(a: &syn::Attribute) -> bool {
    a.path().is_ident("cfg")
        && a.meta
            .require_list()
            .is_ok_and(|l| l.tokens.to_string() == "test")
}

/// One reference from a file to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The path as written (or the macro's name).
    pub what: String,
    pub line: usize,
    /// Made by self-test code (which counts as the top layer).
    pub test: bool,
}

/// The import graph of a source tree.
#[derive(Debug, Default)]
pub struct Graph {
    pub files: BTreeSet<String>,
    pub edges: Vec<Edge>,
}

/// A module: where its items are written, and whether it is test code.
#[derive(Clone, Debug)]
struct Module {
    file: String,
    test: bool,
}

type ModPath = Vec<String>;

struct Tree {
    root: PathBuf,
    modules: HashMap<ModPath, Module>,
    /// (module, name) -> the path it re-exports (absolute, or None when
    /// it re-exports another crate's item).
    reexports: HashMap<(ModPath, String), Option<ModPath>>,
    /// Globs re-exported by a module (`pub use x::*`).
    reexport_globs: HashMap<ModPath, Vec<ModPath>>,
    macros: HashMap<String, String>,
    parsed: BTreeMap<String, syn::File>,
}

/// Reads the tree under `src` from `main.rs` along its `mod` declarations.
pub fn build(src: &Path) -> Result<Graph, String> {
    let mut tree = Tree {
        root: src.to_path_buf(),
        modules: HashMap::new(),
        reexports: HashMap::new(),
        reexport_globs: HashMap::new(),
        macros: HashMap::new(),
        parsed: BTreeMap::new(),
    };
    tree.load_file("main.rs", vec![], src.to_path_buf(), false)?;
    let mut graph = Graph {
        files: tree.parsed.keys().cloned().collect(),
        edges: Vec::new(),
    };
    let files = std::mem::take(&mut tree.parsed);
    for (file, ast) in &files {
        let module = tree
            .modules
            .iter()
            .filter(|(_, m)| &m.file == file)
            .min_by_key(|(p, _)| p.len())
            .map(|(p, m)| (p.clone(), m.test))
            .ok_or_else(|| format!("{file}: no module"))?;
        let mut v = EdgeVisitor {
            tree: &tree,
            file,
            module: module.0,
            test: module.1,
            edges: &mut graph.edges,
        };
        v.visit_file(ast);
    }
    graph.edges.retain(|e| e.from != e.to);
    Ok(graph)
}

impl Tree {
    fn load_file(
        &mut self,
        rel: &str,
        path: ModPath,
        dir: PathBuf,
        test: bool,
    ) -> Result<(), String> {
        let full = self.root.join(rel);
        let text =
            std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        let ast = syn::parse_file(&text).map_err(|e| format!("{rel}: {e}"))?;
        let test = test || is_test_file(rel);
        self.modules.insert(
            path.clone(),
            Module {
                file: rel.to_string(),
                test,
            },
        );
        self.scan_items(rel, &path, &dir, test, &ast.items)?;
        self.parsed.insert(rel.to_string(), ast);
        Ok(())
    }

    fn scan_items(
        &mut self,
        rel: &str,
        path: &ModPath,
        dir: &Path,
        test: bool,
        items: &[syn::Item],
    ) -> Result<(), String> {
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let mut child = path.clone();
                    child.push(name.clone());
                    let child_test = test || is_test_module(&name, &m.attrs);
                    let child_dir = dir.join(&name);
                    match &m.content {
                        Some((_, items)) => {
                            self.modules.insert(
                                child.clone(),
                                Module {
                                    file: rel.to_string(),
                                    test: child_test,
                                },
                            );
                            self.scan_items(rel, &child, &child_dir, child_test, items)?;
                        }
                        None => {
                            let base = dir.strip_prefix(&self.root).unwrap_or(dir);
                            let flat = base.join(format!("{name}.rs"));
                            let nested = base.join(&name).join("mod.rs");
                            let (file, sub) = if self.root.join(&flat).exists() {
                                (flat, child_dir)
                            } else if self.root.join(&nested).exists() {
                                (nested, child_dir)
                            } else {
                                return Err(format!("{rel}: `mod {name};` has no file"));
                            };
                            let file = file.to_string_lossy().replace('\\', "/");
                            self.load_file(&file, child, sub, child_test)?;
                        }
                    }
                }
                syn::Item::Use(u) if matches!(u.vis, syn::Visibility::Public(_)) => {
                    let mut leaves = Vec::new();
                    use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
                    for (segs, name) in leaves {
                        let target = self.absolute(path, &segs);
                        match name {
                            Some(name) => {
                                self.reexports.insert((path.clone(), name), target);
                            }
                            None => {
                                if let Some(t) = target {
                                    self.reexport_globs.entry(path.clone()).or_default().push(t);
                                }
                            }
                        }
                    }
                }
                syn::Item::Macro(m) => {
                    let exported = m.attrs.iter().any(|a| a.path().is_ident("macro_export"));
                    if let (true, Some(name)) = (exported, &m.ident) {
                        self.macros.insert(name.to_string(), rel.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A path as written in module `at`, made absolute (None: it names
    /// another crate).
    fn absolute(&self, at: &ModPath, segs: &[String]) -> Option<ModPath> {
        let first = segs.first()?;
        let mut base = match first.as_str() {
            "crate" => vec![],
            "self" => at.clone(),
            "super" => {
                let mut p = at.clone();
                p.pop()?;
                p
            }
            name => {
                let mut child = at.clone();
                child.push(name.to_string());
                if self.modules.contains_key(&child) {
                    at.clone()
                } else {
                    return None;
                }
            }
        };
        let mut rest = if matches!(first.as_str(), "crate" | "self" | "super") {
            &segs[1..]
        } else {
            segs
        };
        while rest.first().is_some_and(|s| s == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what an absolute path names, following
    /// re-exports; `depth` bounds re-export chains.
    fn resolve(&self, path: &[String], depth: u32) -> Option<String> {
        // `crate::name` of a `#[macro_export]` macro: where it is defined.
        if let [name] = path {
            if let Some(file) = self.macros.get(name) {
                return Some(file.clone());
            }
        }
        let k = (0..=path.len())
            .rev()
            .find(|&k| self.modules.contains_key(&path[..k]))?;
        let module = path[..k].to_vec();
        if depth < 8 && k < path.len() {
            let name = &path[k];
            if let Some(target) = self.reexports.get(&(module.clone(), name.clone())) {
                return match target {
                    Some(t) => {
                        let mut full = t.clone();
                        full.extend(path[k + 1..].iter().cloned());
                        self.resolve(&full, depth + 1)
                    }
                    // Another crate's item, re-exported here: this module.
                    None => Some(self.modules[&module].file.clone()),
                };
            }
            // A name a glob re-export brings in: the first source module
            // that declares it as a child or re-exports it.
            for g in self.reexport_globs.get(&module).into_iter().flatten() {
                let mut child = g.clone();
                child.push(name.clone());
                if self.modules.contains_key(&child)
                    || self.reexports.contains_key(&(g.clone(), name.clone()))
                {
                    let mut full = g.clone();
                    full.extend(path[k..].iter().cloned());
                    return self.resolve(&full, depth + 1);
                }
            }
        }
        Some(self.modules[&module].file.clone())
    }
}

/// The leaves of a use tree: (path segments, Some(name it binds)) or
/// (prefix, None) for a glob.
fn use_leaves(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                let bound = prefix.last().cloned();
                out.push((prefix.clone(), bound));
            } else {
                let mut p = prefix.clone();
                p.push(name.clone());
                out.push((p, Some(name)));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut p = prefix.clone();
            let name = r.ident.to_string();
            if name != "self" {
                p.push(name);
            }
            out.push((p, Some(r.rename.to_string())));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), None)),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_leaves(t, prefix, out);
            }
        }
    }
}

struct EdgeVisitor<'t, 'e> {
    tree: &'t Tree,
    file: &'t str,
    module: ModPath,
    test: bool,
    edges: &'e mut Vec<Edge>,
}

impl EdgeVisitor<'_, '_> {
    fn add(&mut self, segs: &[String], line: usize) {
        let Some(abs) = self.tree.absolute(&self.module, segs) else {
            return;
        };
        if let Some(to) = self.tree.resolve(&abs, 0) {
            self.edges.push(Edge {
                from: self.file.to_string(),
                to,
                what: segs.join("::"),
                line,
                test: self.test,
            });
        }
    }

    fn add_macro(&mut self, name: &str, line: usize) {
        if let Some(to) = self.tree.macros.get(name) {
            self.edges.push(Edge {
                from: self.file.to_string(),
                to: to.clone(),
                what: format!("{name}!"),
                line,
                test: self.test,
            });
        }
    }

    /// Paths inside a macro's arguments (`crate::a::b`, `super::x`, or a
    /// module in scope), and nested macro calls.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let toks: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                TokenTree::Group(g) => self.scan_tokens(g.stream()),
                TokenTree::Ident(id) => {
                    let line = id.span().start().line;
                    let mut segs = vec![id.to_string()];
                    let mut j = i + 1;
                    while is_colon2(&toks, j) {
                        match toks.get(j + 2) {
                            Some(TokenTree::Ident(next)) => {
                                segs.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    if let Some(TokenTree::Punct(p)) = toks.get(j) {
                        if p.as_char() == '!' {
                            if let Some(last) = segs.last() {
                                let last = last.clone();
                                self.add_macro(&last, line);
                            }
                        }
                    }
                    if segs.len() > 1 || matches!(segs[0].as_str(), "crate" | "super") {
                        self.add(&segs, line);
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

fn is_colon2(toks: &[TokenTree], j: usize) -> bool {
    matches!((toks.get(j), toks.get(j + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':')
}

impl<'ast> Visit<'ast> for EdgeVisitor<'_, '_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if let Some((_, items)) = &m.content {
            let saved = (self.module.clone(), self.test);
            self.module.push(m.ident.to_string());
            self.test = self.test || is_test_module(&m.ident.to_string(), &m.attrs);
            for item in items {
                self.visit_item(item);
            }
            (self.module, self.test) = saved;
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut leaves = Vec::new();
        use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
        let line = u.use_token.span.start().line;
        for (segs, _) in leaves {
            self.add(&segs, line);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = p
            .segments
            .first()
            .map_or(0, |s| s.ident.span().start().line);
        // (A lone `crate` is a visibility, `pub(crate)`.)
        if segs.len() > 1 || matches!(segs.first().map(String::as_str), Some("super")) {
            self.add(&segs, line);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        let line = m
            .path
            .segments
            .first()
            .map_or(0, |s| s.ident.span().start().line);
        if let Some(last) = m.path.segments.last() {
            self.add_macro(&last.ident.to_string(), line);
        }
        // Not the default walk, which would take the macro's own path
        // (`crate::name!`) for a module path.
        self.scan_tokens(m.tokens.clone());
    }
}

/// An edge that points up: (from layer, to layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub edge: Edge,
    pub from_layer: Layer,
    pub to_layer: Layer,
}

impl Violation {
    /// The allow-list's key: `from -> to`.
    pub fn key(&self) -> String {
        format!("{} -> {}", self.edge.from, self.edge.to)
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "src/{}:{} (L{}) names `{}` of src/{} (L{})",
            self.edge.from,
            self.edge.line,
            self.from_layer,
            self.edge.what,
            self.edge.to,
            self.to_layer
        )
    }
}

/// Every upward edge, and every file without a layer.
pub fn check(graph: &Graph) -> (Vec<Violation>, Vec<String>) {
    let unknown: Vec<String> = graph
        .files
        .iter()
        .filter(|f| layer_of(f).is_none())
        .cloned()
        .collect();
    let mut out = Vec::new();
    for e in &graph.edges {
        let (Some(from), Some(to)) = (layer_of(&e.from), layer_of(&e.to)) else {
            continue;
        };
        let from = if e.test { 4 } else { from };
        if to > from {
            out.push(Violation {
                edge: e.clone(),
                from_layer: from,
                to_layer: to,
            });
        }
    }
    (out, unknown)
}

/// The allow-list: one `from -> to` a line, `#` comments.
pub fn parse_allow_list(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

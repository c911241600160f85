//! The dynamic-loading form (bindgen's `--dynamic-loading`, dlopen2's `WrapperApi`): a struct
//! holding the library and one typed function pointer per function, every one bound and
//! checked against its declaration through ffikit-abi when the struct is made — a missing
//! symbol or a declaration the Rust type disagrees with is an error then, never a late
//! surprise. Calls go through methods borrowing the struct, so no pointer outlives the
//! library.

use std::fmt::Write as _;

use crate::Generator;
use crate::rust;

/// One function of the struct: its C name, its parameters as `name: Type`, the arrow.
pub(crate) struct DynamicFunction {
    pub name: String,
    pub params: Vec<String>,
    pub arrow: String,
    pub variadic: bool,
}

impl Generator<'_> {
    /// The struct `name` and its `impl`, for the functions collected.
    pub(crate) fn dynamic_struct(&mut self, name: &str) -> String {
        let names: Vec<&str> = self.dynamic.iter().map(|f| f.name.as_str()).collect();
        let declarations = match crate::c_declarations(self.decls, &names) {
            Ok(text) => text,
            Err(why) => {
                self.omit(name, format!("the dynamic-loading struct: {why}"));
                return String::new();
            }
        };
        let mut fields = String::new();
        let mut binds = String::new();
        let mut inits = Vec::new();
        let mut methods = String::new();
        for f in &self.dynamic {
            let field = rust::identifier(&f.name);
            let types: Vec<String> = f
                .params
                .iter()
                .filter_map(|p| p.split_once(": ").map(|(_, t)| t.to_owned()))
                .chain(f.variadic.then(|| "...".to_owned()))
                .collect();
            let fn_type = format!("unsafe extern \"C\" fn({}){}", types.join(", "), f.arrow);
            let _ = writeln!(fields, "    {field}: {fn_type},");
            let _ = writeln!(
                binds,
                "        let {field}: {fn_type} = *unsafe {{ library.get({:?}) }}?.typed::<{fn_type}>()?;",
                f.name
            );
            inits.push(field.clone());
            if f.variadic {
                let _ = writeln!(
                    methods,
                    "    /// `{}`, a variadic function: its pointer, to call with C's promoted\n    /// arguments.\n    ///\n    /// # Safety\n    ///\n    /// Called only while `self` lives, as C's `{}` requires.\n    pub unsafe fn {field}(&self) -> {fn_type} {{\n        self.{field}\n    }}",
                    f.name, f.name
                );
            } else {
                let args: Vec<&str> = f
                    .params
                    .iter()
                    .filter_map(|p| p.split_once(": ").map(|(n, _)| n))
                    .collect();
                let _ = writeln!(
                    methods,
                    "    /// Calls `{}`.\n    ///\n    /// # Safety\n    ///\n    /// As C's `{}` requires of its arguments.\n    pub unsafe fn {field}(&self, {}){} {{\n        // SAFETY: the caller's promise; the library is loaded while `self` lives.\n        unsafe {{ (self.{field})({}) }}\n    }}",
                    f.name,
                    f.name,
                    f.params.join(", "),
                    f.arrow,
                    args.join(", ")
                );
            }
        }
        format!(
            "\n/// The C declarations the functions are checked against when bound.\nconst {upper}_DECLARATIONS: &str = {declarations:?};\n\n\
             /// The library's functions, bound at run time through ffikit-abi: each checked once\n/// against its declaration when [`{name}::new`] binds it.\npub struct {name} {{\n    _library: ::ffikit_abi::Library,\n{fields}}}\n\n\
             impl ::std::fmt::Debug for {name} {{\n    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\n        f.debug_struct({name:?}).finish_non_exhaustive()\n    }}\n}}\n\n\
             impl {name} {{\n    /// Opens the library (a path or a name, as `Library::open` takes it) and binds every\n    /// function, each checked against its declaration: a missing symbol or a mismatch is\n    /// an error here.\n    ///\n    /// # Safety\n    ///\n    /// Loading runs the library's initializers, which must be sound; the declarations\n    /// (the header's) must be true to the library.\n    pub unsafe fn new(library: &str) -> Result<Self, ::ffikit_abi::Error> {{\n        // SAFETY: this function's contract.\n        let library = unsafe {{ ::ffikit_abi::Library::open(library) }}?;\n        library.cdef({upper}_DECLARATIONS)?;\n        // SAFETY (each `get`): the declarations are the header's, true to the library\n        // (this function's contract).\n{binds}        Ok({name} {{ _library: library, {} }})\n    }}\n\n{methods}}}\n",
            inits.join(", "),
            upper = name.to_ascii_uppercase(),
        )
    }
}

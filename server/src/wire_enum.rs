//! `wire_enum!`: a fieldless enum whose variants each have one wire name, written once and used by
//! serde (both ways), `as_str`, `parse` and the OpenAPI schema, with every variant listed in `ALL`.
//! So a kind's spelling on the admin API, in the stores and in the process log cannot drift apart.

/// Declares the enum. Its doc comment becomes the schema's description.
macro_rules! wire_enum {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident {
            $($variant:ident = $wire:literal,)*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The variant with this wire name.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($wire => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let docs: &[&str] = &[$($doc),*];
                let description = docs.iter().map(|line| line.trim()).collect::<Vec<_>>().join("\n");
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description((!description.is_empty()).then_some(description))
                    .enum_values(Some([$($wire),*]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

pub(crate) use wire_enum;

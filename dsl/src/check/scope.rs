//! Column scopes: what an expression at one point of a stream can see.
//!
//! A scope is the plan schema of the rows flowing at that point plus what the checker needs to
//! keep going after an error: columns whose type is unknown (an upstream error) and "open"
//! scopes (the whole input is unknown), in which unknown names are not reported again. That is
//! how one mistake is reported once instead of once per dependent stage or stream.

use crate::plan::{DataType, Field, Schema};

/// Whether windows may be used on a stream: its root sources must all declare `event_time`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum EventTime {
    Known,
    /// No event time: why (for the message) and how to get one (for the hint).
    Missing {
        reason: String,
        hint: String,
    },
    /// Upstream errors: do not report anything about it.
    Unknown,
}

#[derive(Clone, Debug)]
pub(crate) struct Col {
    /// The name in the schema (after a join possibly `TABLE_col`).
    pub name: String,
    /// Type and nullability; `None` when an upstream error made it unknown.
    pub ty: Option<(DataType, bool)>,
    /// Qualified ways to reach this column: (`airports`, `faa`) for `airports.faa`.
    pub quals: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub cols: Vec<Col>,
    /// Some columns may be missing (an upstream error): unknown names are silently unknown.
    pub open: bool,
    pub event_time: EventTime,
    /// Rows are an updating table (an `aggregate` without window) rather than an append stream.
    pub updating: bool,
    /// Some root input never ends (kafka).
    pub unbounded: bool,
}

/// Result of looking a column up.
pub(crate) enum Lookup {
    Found(usize),
    /// Not there and the scope is open: say nothing.
    Unknown,
    /// No such qualifier (`x` in `x.col`).
    NoQualifier,
    NoColumn,
}

impl Scope {
    /// A scope about which nothing is known (undeclared input, cycle, failed declaration).
    pub fn unknown() -> Scope {
        Scope {
            cols: Vec::new(),
            open: true,
            event_time: EventTime::Unknown,
            updating: false,
            unbounded: false,
        }
    }

    /// The columns of `schema`, each also reachable as `qualifier.col`.
    pub fn from_schema(schema: &Schema, qualifier: &str) -> Scope {
        let cols = schema
            .fields
            .iter()
            .map(|f| Col {
                name: f.name.clone(),
                ty: Some((f.ty, f.nullable)),
                quals: vec![(qualifier.to_string(), f.name.clone())],
            })
            .collect();
        Scope {
            cols,
            open: false,
            event_time: EventTime::Unknown,
            updating: false,
            unbounded: false,
        }
    }

    /// Same flags as `self`, new columns.
    pub fn with_cols(&self, cols: Vec<Col>) -> Scope {
        Scope {
            cols,
            open: self.open,
            event_time: self.event_time.clone(),
            updating: self.updating,
            unbounded: self.unbounded,
        }
    }

    /// Re-qualifies every column as `qualifier.col` (a stream read by name).
    pub fn requalified(&self, qualifier: &str) -> Scope {
        let cols = self
            .cols
            .iter()
            .map(|c| Col {
                name: c.name.clone(),
                ty: c.ty,
                quals: vec![(qualifier.to_string(), c.name.clone())],
            })
            .collect();
        self.with_cols(cols)
    }

    pub fn lookup(&self, qualifier: Option<&str>, name: &str) -> Lookup {
        let found = match qualifier {
            None => self.cols.iter().position(|c| c.name == name),
            Some(q) => self
                .cols
                .iter()
                .position(|c| c.quals.iter().any(|(cq, cn)| cq == q && cn == name)),
        };
        match (found, qualifier) {
            (Some(i), _) => Lookup::Found(i),
            (None, _) if self.open => Lookup::Unknown,
            (None, Some(q)) if !self.qualifiers().any(|x| x == q) => Lookup::NoQualifier,
            (None, _) => Lookup::NoColumn,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cols.iter().map(|c| c.name.as_str())
    }

    /// Distinct qualifiers, in column order.
    pub fn qualifiers(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        for c in &self.cols {
            for (q, _) in &c.quals {
                if !seen.contains(&q.as_str()) {
                    seen.push(q);
                }
            }
        }
        seen.into_iter()
    }

    /// Names reachable as `qualifier.NAME`.
    pub fn names_under<'a>(&'a self, qualifier: &'a str) -> impl Iterator<Item = &'a str> {
        self.cols
            .iter()
            .flat_map(|c| c.quals.iter())
            .filter(move |(q, _)| q == qualifier)
            .map(|(_, n)| n.as_str())
    }

    /// The plan schema, when every column is known.
    pub fn schema(&self) -> Option<Schema> {
        if self.open {
            return None;
        }
        let fields = self
            .cols
            .iter()
            .map(|c| c.ty.map(|(ty, n)| Field::new(c.name.clone(), ty, n)))
            .collect::<Option<Vec<_>>>()?;
        Some(Schema::new(fields))
    }

    /// Like [`Scope::schema`] but with placeholders for unknown columns (for plans that are
    /// built while errors exist and are then thrown away).
    pub fn schema_lossy(&self) -> Schema {
        Schema::new(
            self.cols
                .iter()
                .map(|c| {
                    let (ty, n) = c.ty.unwrap_or((DataType::Int, true));
                    Field::new(c.name.clone(), ty, n)
                })
                .collect(),
        )
    }
}

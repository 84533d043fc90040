//! Questions every later layer asks of a plan's inputs: their names and schemas, the readers'
//! numbering (sources, then tables) and where a stage's event time is. Answered once here so
//! the engine's planner, builder, tests and metrics agree.

use crate::plan::{DataType, InputRef, LogicalPlan, Schema, SourceNode};

impl LogicalPlan {
    /// Every reader of the run: the sources, then the tables. Reader `r` is source `r`, or
    /// table `r - sources.len()` (see [`LogicalPlan::read_index`]).
    pub fn reads(&self) -> impl Iterator<Item = &SourceNode> {
        self.sources.iter().chain(&self.tables)
    }

    /// The reader number of a source or table input; `None` for a stream.
    pub fn read_index(&self, input: InputRef) -> Option<usize> {
        match input {
            InputRef::Source(i) => Some(i),
            InputRef::Table(t) => Some(self.sources.len() + t),
            InputRef::Stream(_) => None,
        }
    }

    /// The name of an input (`?` for an index out of range: plans being checked print too).
    pub fn input_name(&self, input: InputRef) -> &str {
        let name = match input {
            InputRef::Source(i) => self.sources.get(i).map(|s| s.name.as_str()),
            InputRef::Table(i) => self.tables.get(i).map(|s| s.name.as_str()),
            InputRef::Stream(i) => self.streams.get(i).map(|s| s.name.as_str()),
        };
        name.unwrap_or("?")
    }

    /// The schema an input carries (`None` for an index out of range).
    pub fn input_schema(&self, input: InputRef) -> Option<&Schema> {
        match input {
            InputRef::Source(i) => self.sources.get(i).map(|s| &s.schema),
            InputRef::Table(i) => self.tables.get(i).map(|s| &s.schema),
            InputRef::Stream(i) => self.streams.get(i).map(|s| &s.schema),
        }
    }

    /// The schema stage `op` of stream `stream` reads: the stream's (first) input for the
    /// first stage, else the previous stage's output.
    pub fn stage_input_schema(&self, stream: usize, op: usize) -> Option<&Schema> {
        let node = self.streams.get(stream)?;
        match op {
            0 => self.input_schema(*node.inputs.first()?),
            i => node.ops.get(i - 1).map(|o| &o.schema),
        }
    }

    /// The first source an input reads from, through streams and unions (`None` for a table).
    pub fn root_source(&self, input: InputRef) -> Option<usize> {
        match input {
            InputRef::Source(i) => Some(i),
            InputRef::Table(_) => None,
            InputRef::Stream(i) => self.root_source(*self.streams.get(i)?.inputs.first()?),
        }
    }

    /// The name of the `event_time` column of an input's root source, if it has one.
    pub fn event_time_name(&self, input: InputRef) -> Option<&str> {
        let source = self.sources.get(self.root_source(input)?)?;
        Some(source.schema.fields.get(source.event_time?)?.name.as_str())
    }

    /// The event-time column of an input: its root source's `event_time` column, found by
    /// name (and type) in the input's schema.
    pub fn input_event_time(&self, input: InputRef) -> Option<usize> {
        timestamp_column(self.input_schema(input)?, self.event_time_name(input)?)
    }

    /// The event-time column in the input of stage `op` of stream `stream`.
    pub fn stage_event_time(&self, stream: usize, op: usize) -> Option<usize> {
        let name = self.event_time_name(*self.streams.get(stream)?.inputs.first()?)?;
        timestamp_column(self.stage_input_schema(stream, op)?, name)
    }
}

/// Column `name` of `schema` when it is a timestamp (event time survives a `select` only
/// unrenamed and untouched).
pub fn timestamp_column(schema: &Schema, name: &str) -> Option<usize> {
    let index = schema.index_of(name)?;
    (schema.fields[index].ty == DataType::Timestamp).then_some(index)
}

/// The schema of a changelog: the rows' columns, then `diff` (+1 insert, -1 retraction).
pub fn changelog_schema(schema: &Schema) -> Schema {
    let mut schema = schema.clone();
    schema
        .fields
        .push(crate::plan::Field::new("diff", DataType::Int, false));
    schema
}

//! `generator(...)` sources: synthetic records for benchmarks and demos, computed rather than
//! read, so that a run is reproducible from its seed and its size is only a number.

pub(crate) mod geo_points;
pub(crate) mod nexmark;

use sluice_dsl::plan::{ConnectorSpec, GeneratorKind, SourceNode};

use super::{ConnectorError, SourceContext, SourceReader};

/// Opens worker `ctx.worker`'s share of a generator source.
pub(crate) fn open_generator(
    node: &SourceNode,
    ctx: SourceContext,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let ConnectorSpec::Generator {
        kind,
        events,
        rate,
        seed,
    } = &node.connector
    else {
        return Err(ConnectorError::Other(format!(
            "source `{}` is not a generator",
            node.name
        )));
    };
    match kind {
        GeneratorKind::GeoPoints => Ok(Box::new(geo_points::GeoPoints::new(
            node, ctx, *events, *rate, *seed,
        )?)),
        GeneratorKind::Nexmark(of) => nexmark::open(node, ctx, *of, *events, *rate, *seed),
    }
}

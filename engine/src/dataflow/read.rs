//! The source operator: pulls batches from a connector reader, a few milliseconds per
//! activation, so one source cannot starve the other operators of its worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::Scope;
use timely::dataflow::operators::generic::operator::source;

use super::BatchStream;
use crate::connectors::SourceReader;
use crate::run::RunShared;

/// How long one activation may read before yielding to other operators.
const SLICE: Duration = Duration::from_millis(5);

/// A stream of the batches `reader` yields (an empty stream when `reader` is `None`, e.g.
/// because opening it failed). Read errors are recorded in `shared.failures` and end the stream.
pub fn read_source<'scope>(
    scope: Scope<'scope, u64>,
    context: String,
    reader: Option<Box<dyn SourceReader>>,
    shared: Arc<RunShared>,
) -> BatchStream<'scope> {
    source(scope, &context.clone(), move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut capability = reader.is_some().then_some(capability);
        let mut reader = reader;
        move |output| {
            let (Some(cap), Some(r)) = (&capability, reader.as_mut()) else {
                return;
            };
            let started = Instant::now();
            let mut done = false;
            let mut session = output.session(cap);
            while started.elapsed() < SLICE {
                match r.next_batch() {
                    Ok(Some(batch)) => session.give(batch),
                    Ok(None) => {
                        done = true;
                        break;
                    }
                    Err(e) => {
                        shared.failures.record(&context, e);
                        done = true;
                        break;
                    }
                }
            }
            drop(session);
            if done {
                capability = None;
                reader = None;
            } else {
                activator.activate();
            }
        }
    })
}

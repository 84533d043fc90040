//! `[debug] panic_at_row`: a pass-through operator in front of one stage that panics (or,
//! with `hang`, never returns) when the N-th row reaches it, named as that stage. A test
//! hook: it shows that a panic in any operator fails the run promptly (`abort.rs`) instead of
//! hanging the other workers, and that a stop ends a run with a stuck worker.

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;

/// Extension trait: panic at the `row`-th row (1-based, counted on this worker).
pub trait PanicAtRow {
    /// ```text
    /// [debug]
    /// panic_at_row = { stream = "totals", stage = 2, row = 1000 }
    /// ```
    /// With `hang`, the operator sleeps forever instead: a stuck worker.
    fn panic_at_row(self, row: u64, hang: bool, context: String) -> Self;
}

impl<'scope> PanicAtRow for BatchStream<'scope> {
    fn panic_at_row(self, row: u64, hang: bool, context: String) -> Self {
        self.unary(Pipeline, "PanicAtRow", move |_, _| {
            let mut seen = 0u64;
            move |input, output| {
                let _stage = crate::abort::stage(&context);
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data.drain(..) {
                        seen += batch.num_rows() as u64;
                        if seen >= row && hang {
                            loop {
                                std::thread::sleep(std::time::Duration::from_secs(3600));
                            }
                        }
                        if seen >= row {
                            panic!("[debug] panic_at_row: row {row} reached");
                        }
                        session.give(batch);
                    }
                });
            }
        })
    }
}

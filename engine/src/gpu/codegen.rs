//! WGSL from typed expressions: one kernel per fused chain of `where`/`select` stages.
//!
//! Why fuse by substitution: a `select` item used by a later `where` is inlined into it, so a
//! chain reads its input columns once, keeps intermediates in registers, and writes only the
//! filter masks and the computed output columns (never a full intermediate batch).
//!
//! Layout: one invocation per 32-row word, so masks, bool values and validity are whole
//! `u32` words (Arrow's bit order) written without atomics. Buffers (prelude binding 0 is
//! `params`, `params[1]` = rows):
//! 1 `in64` i64/timestamp/duration values and f64 bits, column slot `s` at `s * n`;
//! 2 `inbits` bool values and validity, slot `b` at `b * words`; 3 `consts` literals;
//! 4 `out64` computed 64-bit columns; 5 `outbits` filter masks, bool values, validity.
//! Literals go through `consts`, so `x > 5` and `x > 7` share one cached kernel.
//!
//! What the GPU cannot compute exactly (strings, scalar functions, float `%` — WGSL's `%` is
//! not C's `fmod` —, casts from or to strings): in a `where`, the stage stays on the CPU
//! (`Unsupported` says why); as a final `select` item, it is evaluated on the CPU on the rows
//! the chain keeps (`OutputColumn::Cpu`).

use std::collections::HashMap;
use std::fmt::Write;

use sluice_dsl::ast::{BinaryOp, UnaryOp};
use sluice_dsl::plan::{DataType, TExpr, TypedExpr, Value};

const TEMPLATE: &str = include_str!("../../../shaders/expr_chain.wgsl");
const HELPERS: &str = include_str!("../../../shaders/expr.wgsl");

/// How a plan type is stored on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// int, timestamp, duration: i64.
    I64,
    /// float: f64 (stored as its bits in an i64 slot).
    F64,
    /// bool: one bit per row.
    Bool,
}

pub fn class_of(ty: DataType) -> Option<Class> {
    match ty {
        DataType::Int | DataType::Timestamp | DataType::Duration => Some(Class::I64),
        DataType::Float => Some(Class::F64),
        DataType::Bool => Some(Class::Bool),
        // No kernel reads Date32 (i32) columns: date stages stay on the CPU.
        DataType::String | DataType::Date => None,
    }
}

/// Why a stage cannot run on the GPU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// One stage of a chain.
#[derive(Clone, Debug)]
pub enum ChainOp {
    Filter(TypedExpr),
    Project(Vec<(String, TypedExpr)>),
}

/// An input column the kernel reads.
#[derive(Clone, Debug, PartialEq)]
pub struct InputColumn {
    pub index: usize,
    pub class: Class,
    /// Slot in `in64` (I64/F64) or `inbits` (Bool) of the values.
    pub slot: usize,
    /// Slot in `inbits` of the validity, for nullable columns.
    pub valid_slot: Option<usize>,
}

/// A column of the chain's output.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputColumn {
    /// Taken from the input batch as it is (zero copy, any type, strings included).
    Input(usize),
    /// An item the GPU cannot compute exactly (strings, functions), evaluated on the CPU on
    /// the rows the chain keeps (its columns refer to the chain's input).
    Cpu(TypedExpr),
    /// Computed: values in `out64` slot (I64/F64) or `outbits` slot (Bool), validity in
    /// `outbits` slot `valid`.
    Computed {
        ty: DataType,
        slot: usize,
        valid: usize,
    },
}

/// A chain compiled to one kernel.
#[derive(Clone, Debug)]
pub struct ChainKernel {
    /// WGSL without the prelude (the runtime adds it).
    pub source: String,
    pub inputs: Vec<InputColumn>,
    /// Literal values as i64 (floats as their bits).
    pub consts: Vec<i64>,
    /// One cumulative mask per `where`, in `outbits` slots `0..filters`.
    pub filters: usize,
    pub outputs: Vec<OutputColumn>,
    pub in64_slots: usize,
    pub inbits_slots: usize,
    pub out64_slots: usize,
    pub outbits_slots: usize,
}

impl ChainKernel {
    /// Whether the GPU does anything for this chain (a mask or a computed column).
    pub fn gpu_work(&self) -> bool {
        self.filters > 0
            || self
                .outputs
                .iter()
                .any(|o| matches!(o, OutputColumn::Computed { .. }))
    }
}

/// Compiles `ops` over an input whose columns are referenced by `TExpr::Column`.
pub fn compile_chain(ops: &[ChainOp], input_width: usize) -> Result<ChainKernel, Unsupported> {
    let mut env: Vec<Option<TypedExpr>> = vec![None; input_width];
    let mut g = Gen::default();
    let mut filters = Vec::new();
    for op in ops {
        match op {
            ChainOp::Filter(p) => {
                let p = substitute(p, &env);
                let (v, k) = g.expr(&p)?;
                filters.push((v, k));
            }
            ChainOp::Project(items) => {
                env = items
                    .iter()
                    .map(|(_, e)| Some(substitute(e, &env)))
                    .collect();
            }
        }
    }
    // Masks first (slots 0..filters), then outputs.
    let mut stores = String::new();
    let mut decls = String::new();
    let nfilters = filters.len();
    let mut outbits = nfilters;
    let mut out64 = 0;
    let mut keep = "true".to_string();
    for (slot, (v, k)) in filters.iter().enumerate() {
        let name = format!("keep{slot}");
        let _ = writeln!(g.body, "let {name} = {keep} && {k} && {v};");
        g.bits_out(&mut decls, &mut stores, slot, &name);
        keep = name;
    }
    let mut outputs = Vec::new();
    for (i, e) in env.iter().enumerate() {
        let e = match e {
            None => {
                outputs.push(OutputColumn::Input(i));
                continue;
            }
            Some(e) => e,
        };
        if let TExpr::Column(c, _) = e.kind {
            outputs.push(OutputColumn::Input(c));
            continue;
        }
        let mut trial = g.clone();
        let (class, (v, k)) = match class_of(e.ty).map(|c| (c, trial.expr(e))) {
            Some((class, Ok(names))) => (class, names),
            _ => {
                outputs.push(OutputColumn::Cpu(e.clone()));
                continue;
            }
        };
        g = trial;
        let valid = outbits;
        outbits += 1;
        g.bits_out(&mut decls, &mut stores, valid, &k);
        let slot = match class {
            Class::Bool => {
                let slot = outbits;
                outbits += 1;
                g.bits_out(&mut decls, &mut stores, slot, &v);
                slot
            }
            Class::I64 => {
                let _ = writeln!(g.body, "out64[{out64}u * n + i] = {v};");
                out64 += 1;
                out64 - 1
            }
            Class::F64 => {
                let _ = writeln!(g.body, "out64[{out64}u * n + i] = bitcast<i64>({v});");
                out64 += 1;
                out64 - 1
            }
        };
        outputs.push(OutputColumn::Computed {
            ty: e.ty,
            slot,
            valid,
        });
    }
    let source = TEMPLATE
        .replace("//{DECLS}", &decls)
        .replace("//{BODY}", &g.body)
        .replace("//{STORES}", &stores);
    Ok(ChainKernel {
        source: format!("{source}\n{HELPERS}"),
        inputs: g.inputs,
        consts: g.consts,
        filters: nfilters,
        outputs,
        in64_slots: g.in64,
        inbits_slots: g.inbits,
        out64_slots: out64,
        outbits_slots: outbits,
    })
}

/// `e` with every column replaced by its definition in `env` (`None`: an input column).
fn substitute(e: &TypedExpr, env: &[Option<TypedExpr>]) -> TypedExpr {
    let sub = |x: &TypedExpr| Box::new(substitute(x, env));
    let all = |xs: &[TypedExpr]| xs.iter().map(|x| substitute(x, env)).collect();
    let kind = match &e.kind {
        TExpr::Column(i, _) => match env.get(*i) {
            Some(Some(def)) => return def.clone(),
            _ => return e.clone(),
        },
        TExpr::Literal(_) => return e.clone(),
        TExpr::Unary(op, x) => TExpr::Unary(*op, sub(x)),
        TExpr::Binary(op, l, r) => TExpr::Binary(*op, sub(l), sub(r)),
        TExpr::Cast(x) => TExpr::Cast(sub(x)),
        TExpr::IsNull(x, neg) => TExpr::IsNull(sub(x), *neg),
        TExpr::InList(x, items, neg) => TExpr::InList(sub(x), all(items), *neg),
        TExpr::If(c, t, f) => TExpr::If(sub(c), sub(t), sub(f)),
        TExpr::Coalesce(args) => TExpr::Coalesce(all(args)),
        TExpr::Func(f, args) => TExpr::Func(*f, all(args)),
    };
    TypedExpr {
        kind,
        ty: e.ty,
        nullable: e.nullable,
    }
}

#[derive(Clone, Default)]
struct Gen {
    body: String,
    next: usize,
    inputs: Vec<InputColumn>,
    loaded: HashMap<usize, (String, String)>,
    consts: Vec<i64>,
    in64: usize,
    inbits: usize,
}

fn wgsl_type(c: Class) -> &'static str {
    match c {
        Class::I64 => "i64",
        Class::F64 => "f64",
        Class::Bool => "bool",
    }
}

fn zero(c: Class) -> &'static str {
    match c {
        Class::I64 => "0li",
        Class::F64 => "0.0lf",
        Class::Bool => "false",
    }
}

impl Gen {
    /// A `u32` accumulated over the word's rows and stored to `outbits[slot]`.
    fn bits_out(&mut self, decls: &mut String, stores: &mut String, slot: usize, cond: &str) {
        let _ = writeln!(decls, "var ob{slot}: u32 = 0u;");
        let _ = writeln!(self.body, "if ({cond}) {{ ob{slot} = ob{slot} | bit_r; }}");
        let _ = writeln!(stores, "outbits[{slot}u * words + w] = ob{slot};");
    }

    /// Emits `let v = value; let k = valid;`, returns their names.
    fn emit(&mut self, class: Class, value: &str, valid: &str) -> (String, String) {
        let id = self.next;
        self.next += 1;
        let (v, k) = (format!("v{id}"), format!("k{id}"));
        let _ = writeln!(
            self.body,
            "let {v}: {} = {value};\nlet {k}: bool = {valid};",
            wgsl_type(class)
        );
        (v, k)
    }

    fn class(e: &TypedExpr) -> Result<Class, Unsupported> {
        class_of(e.ty).ok_or_else(|| Unsupported(format!("{} values", e.ty.name())))
    }

    fn expr(&mut self, e: &TypedExpr) -> Result<(String, String), Unsupported> {
        let class = Self::class(e)?;
        match &e.kind {
            TExpr::Literal(value) => self.literal(value, class),
            TExpr::Column(index, _) => Ok(self.column(*index, class, e.nullable)),
            TExpr::Unary(UnaryOp::Not, x) => {
                let (v, k) = self.expr(x)?;
                Ok(self.emit(class, &format!("!{v}"), &k))
            }
            TExpr::Unary(UnaryOp::Neg, x) => {
                let (v, k) = self.expr(x)?;
                Ok(match class {
                    Class::F64 => self.emit(class, &format!("-{v}"), &k),
                    _ => self.emit(
                        class,
                        &format!("select(-{v}, 0li, is_min({v}))"),
                        &format!("{k} && !is_min({v})"),
                    ),
                })
            }
            TExpr::Binary(op, l, r) => self.binary(*op, l, r, class),
            TExpr::Cast(x) => self.cast(x, e.ty),
            TExpr::IsNull(x, negated) => {
                let (_, k) = self.expr(x)?;
                let v = if *negated { k } else { format!("!{k}") };
                Ok(self.emit(Class::Bool, &v, "true"))
            }
            TExpr::InList(x, items, negated) => {
                let xc = Self::class(x)?;
                let (xv, xk) = self.expr(x)?;
                // Kleene `or` of `x == item`: true on a match, else null if anything was null.
                let (mut acc_v, mut acc_k) = ("false".to_string(), "true".to_string());
                for item in items {
                    let (iv, ik) = self.expr(item)?;
                    let eq = eq_expr(xc, &xv, &iv);
                    let (ev, ek) = self.emit(Class::Bool, &eq, &format!("{xk} && {ik}"));
                    (acc_v, acc_k) = self.kleene(false, (&acc_v, &acc_k), (&ev, &ek));
                }
                Ok(if *negated {
                    self.emit(Class::Bool, &format!("!{acc_v}"), &acc_k)
                } else {
                    (acc_v, acc_k)
                })
            }
            TExpr::If(c, t, f) => {
                let (cv, ck) = self.expr(c)?;
                let (tv, tk) = self.expr(t)?;
                let (fv, fk) = self.expr(f)?;
                let take = format!("({ck} && {cv})");
                Ok(self.emit(
                    class,
                    &format!("select({fv}, {tv}, {take})"),
                    &format!("select({fk}, {tk}, {take})"),
                ))
            }
            TExpr::Coalesce(args) => {
                let mut acc: Option<(String, String)> = None;
                for arg in args.iter().rev() {
                    let (v, k) = self.expr(arg)?;
                    acc = Some(match acc {
                        None => (v, k),
                        Some((av, ak)) => self.emit(
                            class,
                            &format!("select({av}, {v}, {k})"),
                            &format!("{k} || {ak}"),
                        ),
                    });
                }
                Ok(acc.unwrap_or_else(|| (zero(class).into(), "false".into())))
            }
            TExpr::Func(f, _) => Err(Unsupported(format!("the function `{}`", f.name()))),
        }
    }

    fn literal(&mut self, value: &Value, class: Class) -> Result<(String, String), Unsupported> {
        let bits = match value {
            Value::Null => return Ok((zero(class).into(), "false".into())),
            Value::Bool(b) => return Ok((b.to_string(), "true".into())),
            Value::Int(i) if class == Class::F64 => (*i as f64).to_bits() as i64,
            Value::Int(i) | Value::Timestamp(i) | Value::Duration(i) => *i,
            Value::Float(f) => f.to_bits() as i64,
            Value::String(_) => return Err(Unsupported("a string literal".into())),
            Value::Date(_) => return Err(Unsupported("a date literal".into())),
        };
        let slot = self.consts.len();
        self.consts.push(bits);
        let v = match class {
            Class::F64 => format!("bitcast<f64>(consts[{slot}])"),
            _ => format!("consts[{slot}]"),
        };
        Ok(self.emit(class, &v, "true"))
    }

    fn column(&mut self, index: usize, class: Class, nullable: bool) -> (String, String) {
        if let Some(names) = self.loaded.get(&index) {
            return names.clone();
        }
        let slot = match class {
            Class::Bool => {
                self.inbits += 1;
                self.inbits - 1
            }
            _ => {
                self.in64 += 1;
                self.in64 - 1
            }
        };
        let valid_slot = nullable.then(|| {
            self.inbits += 1;
            self.inbits - 1
        });
        self.inputs.push(InputColumn {
            index,
            class,
            slot,
            valid_slot,
        });
        let value = match class {
            Class::I64 => format!("in64[{slot}u * n + i]"),
            Class::F64 => format!("bitcast<f64>(in64[{slot}u * n + i])"),
            Class::Bool => format!("bit(inbits[{slot}u * words + w], r)"),
        };
        let valid = valid_slot.map_or("true".to_string(), |s| {
            format!("bit(inbits[{s}u * words + w], r)")
        });
        let names = self.emit(class, &value, &valid);
        self.loaded.insert(index, names.clone());
        names
    }

    /// Kleene `and` (`is_and`) / `or` of two (value, valid) pairs.
    fn kleene(&mut self, is_and: bool, l: (&str, &str), r: (&str, &str)) -> (String, String) {
        let ((lv, lk), (rv, rk)) = (l, r);
        if is_and {
            // Known false on either side decides; else null unless both are known.
            let decided = format!("({lk} && !{lv}) || ({rk} && !{rv})");
            self.emit(
                Class::Bool,
                &format!("{lk} && {rk} && {lv} && {rv}"),
                &format!("{decided} || ({lk} && {rk})"),
            )
        } else {
            let decided = format!("({lk} && {lv}) || ({rk} && {rv})");
            self.emit(
                Class::Bool,
                &decided,
                &format!("{decided} || ({lk} && {rk})"),
            )
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        l: &TypedExpr,
        r: &TypedExpr,
        class: Class,
    ) -> Result<(String, String), Unsupported> {
        use BinaryOp::*;
        let operand_class = Self::class(l)?;
        Self::class(r)?;
        let (lv, lk) = self.expr(l)?;
        let (rv, rk) = self.expr(r)?;
        let both = format!("{lk} && {rk}");
        Ok(match op {
            And => self.kleene(true, (&lv, &lk), (&rv, &rk)),
            Or => self.kleene(false, (&lv, &lk), (&rv, &rk)),
            Eq | NotEq | Lt | LtEq | Gt | GtEq => {
                let v = compare_expr(op, operand_class, &lv, &rv);
                self.emit(Class::Bool, &v, &both)
            }
            Add | Sub | Mul | Div | Mod if class == Class::F64 => {
                let sym = match op {
                    Add => "+",
                    Sub => "-",
                    Mul => "*",
                    Div => "/",
                    _ => return Err(Unsupported("float `%` (WGSL's `%` is not fmod)".into())),
                };
                self.emit(class, &format!("{lv} {sym} {rv}"), &both)
            }
            Add | Sub | Mul => {
                let sym = match op {
                    Add => "+",
                    Sub => "-",
                    _ => "*",
                };
                let ok = match op {
                    Add => "add_ok",
                    Sub => "sub_ok",
                    _ => "mul_ok",
                };
                let (raw, _) = self.emit(Class::I64, &format!("{lv} {sym} {rv}"), "true");
                self.emit(class, &raw, &format!("{both} && {ok}({lv}, {rv}, {raw})"))
            }
            Div => self.emit(
                class,
                &format!("div_i({lv}, {rv})"),
                &format!("{both} && div_ok({lv}, {rv})"),
            ),
            Mod => self.emit(
                class,
                &format!("rem_i({lv}, {rv})"),
                &format!("{both} && {rv} != 0li"),
            ),
        })
    }

    fn cast(&mut self, x: &TypedExpr, to: DataType) -> Result<(String, String), Unsupported> {
        let from = x.ty;
        let (fc, tc) = match (class_of(from), class_of(to)) {
            (Some(f), Some(t)) => (f, t),
            _ => {
                return Err(Unsupported(format!(
                    "a cast from {} to {}",
                    from.name(),
                    to.name()
                )));
            }
        };
        let (v, k) = self.expr(x)?;
        Ok(match (fc, tc) {
            (a, b) if a == b => (v, k),
            (Class::I64, Class::F64) => self.emit(tc, &format!("f64({v})"), &k),
            (Class::F64, Class::I64) => self.emit(
                tc,
                &format!("f_to_i({v})"),
                &format!("{k} && f_to_i_ok({v})"),
            ),
            (Class::Bool, Class::I64) => self.emit(tc, &format!("select(0li, 1li, {v})"), &k),
            (Class::Bool, Class::F64) => self.emit(tc, &format!("select(0.0lf, 1.0lf, {v})"), &k),
            (Class::I64, Class::Bool) => self.emit(tc, &format!("{v} != 0li"), &k),
            // NaN is non-zero, hence true (as Arrow's cast).
            (_, _) => self.emit(tc, &format!("{v} != 0.0lf || f_nan({v})"), &k),
        })
    }
}

fn eq_expr(class: Class, l: &str, r: &str) -> String {
    compare_expr(BinaryOp::Eq, class, l, r)
}

fn compare_expr(op: BinaryOp, class: Class, l: &str, r: &str) -> String {
    use BinaryOp::*;
    match class {
        Class::F64 => match op {
            Eq => format!("f_eq({l}, {r})"),
            NotEq => format!("!f_eq({l}, {r})"),
            Lt => format!("f_lt({l}, {r})"),
            LtEq => format!("f_le({l}, {r})"),
            Gt => format!("f_lt({r}, {l})"),
            _ => format!("f_le({r}, {l})"),
        },
        // false < true, as u32.
        Class::Bool => format!("(u32({l}) {} u32({r}))", op.symbol()),
        Class::I64 => format!("({l} {} {r})", op.symbol()),
    }
}

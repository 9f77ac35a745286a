//! Benchmark layer lists: the `name,n,h,w,cin,cout,kh,kw,stride,pad,groups` CSV format and the built-in suite.
//!
//! Self-contained (it only uses `simdconv`'s public API) so the criterion benches can include it too.

use simdconv::{Conv2dParams, Layout, WeightLayout};

/// The built-in suite: a copy of the project's common benchmark layer list.
pub const BUILTIN: &str = include_str!("../../benches/shapes.csv");

/// The column names, in order.
pub const COLUMNS: [&str; 11] = ["name", "n", "h", "w", "cin", "cout", "kh", "kw", "stride", "pad", "groups"];

/// One convolution layer of a suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
}

impl Row {
    /// `pw` (1x1, ungrouped), `dw` (groups == cin == cout > 1) or `conv` (everything else).
    pub fn kind(&self) -> &'static str {
        if self.groups > 1 && self.groups == self.cin && self.groups == self.cout {
            "dw"
        } else if self.kh == 1 && self.kw == 1 && self.groups == 1 {
            "pw"
        } else {
            "conv"
        }
    }

    /// The row as library parameters in `layout` (weights OHWI for NHWC, OIHW for NCHW), with batch `batch`.
    pub fn params(&self, layout: Layout, batch: usize) -> Conv2dParams {
        let wl = match layout {
            Layout::Nhwc => WeightLayout::Ohwi,
            Layout::Nchw => WeightLayout::Oihw,
        };
        Conv2dParams::new(self.h, self.w, self.cin, self.cout, self.kh, self.kw)
            .batch(batch)
            .stride(self.stride, self.stride)
            .padding(self.pad, self.pad, self.pad, self.pad)
            .groups(self.groups)
            .layout(layout)
            .weight_layout(wl)
    }

    /// Whether `filter` (comma-separated substrings of the name, or kinds `pw`/`dw`/`conv`) selects this row.
    pub fn matches(&self, filter: &str) -> bool {
        filter.split(',').map(str::trim).filter(|f| !f.is_empty()).any(|f| f == self.kind() || self.name.contains(f))
    }
}

/// Parses a layer list. Blank lines and lines starting with `#` are skipped; the first other line must be the
/// header. Every error names `source`, the line number and what is wrong.
pub fn parse(text: &str, source: &str) -> Result<Vec<Row>, String> {
    let mut rows: Vec<Row> = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = format!("{source}:{}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if !header_seen {
            if fields != COLUMNS {
                return Err(format!("{at}: expected the header line '{}', found '{line}'", COLUMNS.join(",")));
            }
            header_seen = true;
            continue;
        }
        if fields.len() != COLUMNS.len() {
            return Err(format!(
                "{at}: expected {} comma-separated fields, found {}: '{line}'",
                COLUMNS.len(),
                fields.len()
            ));
        }
        if fields[0].is_empty() {
            return Err(format!("{at}: empty layer name"));
        }
        let mut v = [0usize; 10];
        for (j, slot) in v.iter_mut().enumerate() {
            *slot = fields[j + 1].parse().map_err(|_| {
                format!("{at}: column '{}' must be a non-negative integer, found '{}'", COLUMNS[j + 1], fields[j + 1])
            })?;
        }
        let [n, h, w, cin, cout, kh, kw, stride, pad, groups] = v;
        let row = Row { name: fields[0].to_string(), n, h, w, cin, cout, kh, kw, stride, pad, groups };
        row.params(Layout::Nhwc, row.n).validate().map_err(|e| format!("{at}: layer '{}': {e}", row.name))?;
        if rows.iter().any(|r| r.name == row.name) {
            return Err(format!("{at}: duplicate layer name '{}'", row.name));
        }
        rows.push(row);
    }
    if !header_seen {
        return Err(format!("{source}: no header line '{}'", COLUMNS.join(",")));
    }
    Ok(rows)
}

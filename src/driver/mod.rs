//! Drivers: the blocking/tiling loops and the partitioning of their tiles over threads.
//!
//! Work is split over output tiles only (pixels x output channels), never over the reduction, so every output
//! is produced by one micro-kernel call with a fixed operation order: results are bitwise identical for any
//! thread count.

pub mod dwconv;
pub mod gemm_nchw;
pub mod gemm_nhwc;
mod team;
pub mod winograd;

pub use team::set_spin_time;
pub(crate) use team::{run_task_runs, run_tasks};

use crate::error::{Error, Result};
use crate::params::Shape;
use crate::ukernel::gemm::{GemmKernel, GemmTile};

/// A raw pointer that may cross threads; the driver guarantees tasks touch disjoint elements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendPtr<T>(pub *mut T);
// SAFETY: the drivers hand each task a disjoint part of the pointee (see each use).
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above; shared reads only touch read-only tensors.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `Send` wrapper, not the raw field).
    #[inline(always)]
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// Each thread a layer runs on gets at least this many FLOPs (about two microseconds of work): below it a
/// helper's hand-off costs more than its share saves. A layer under twice this runs on the calling thread.
pub(crate) const FLOPS_PER_THREAD: u64 = 200_000;

/// 1x1 layers of at most this many output channels (per group) prefetch the input they read next where
/// [`prefetch_input`] says so: NHWC tiles the next tile's rows (`Prefetch::NextTile`), NCHW pixel lanes read in
/// place the next panel of pixels (`Prefetch::NextPanel`; see [`crate::ukernel::gemm::Prefetch`]). Each input line
/// then feeds at most this many FMAs a float, too few to hide its fetch from L3 or memory behind. Measured on an
/// Intel Xeon with AMX (2 MiB L2), one thread, five rounds, per-round medians against no prefetch: NHWC 112x112
/// 32->16 1.39-1.41x, 56x56 144->24 1.02-1.09x; NCHW (two runs) 112x112 32->16 1.11-1.12x, 56x56 144->24
/// 1.11-1.14x. Wider NHWC layers did not gain enough to keep it (56x56 256->64 1.03-1.05x, 56x56 256->128 1.00x,
/// 56x56 64->256 1.04-1.06x, 112x112 16->96 0.94-0.97x), and wider layers in L2 lost (0.94-0.95x: 28x28 512->128,
/// 14x14 384->64, 7x7 960->160, 35x35 192->64).
pub(crate) const PREFETCH_MAX_N: usize = 32;

/// Bytes of input and output a thread from which [`PREFETCH_MAX_N`]'s layers prefetch, half this Xeon's L2. Two threads
/// (seven rounds, medians) from 1 MiB a thread on, against 2 MiB: 112x112 32->16 (1.2 MB a thread) NHWC 1.03-1.07x,
/// NCHW 1.05-1.08x; 56x56 144->24 (1.05 MB) NHWC 1.02-1.07x, NCHW 1.01-1.02x. Narrow layers in L2 neither gained nor
/// lost (one thread from 400 KB on: 56x56 32->16 and 56x56 64->32 0.99-1.01x): the exact bound matters little.
pub(crate) const PREFETCH_MIN_BYTES: usize = 1 << 20;

/// Whether a 1x1 layer of shape `s` on `threads` threads prefetches the input it reads next: at most
/// [`PREFETCH_MAX_N`] output channels a group and at least [`PREFETCH_MIN_BYTES`] of input and output a thread.
pub(crate) fn prefetch_input(s: &Shape, threads: usize) -> bool {
    let share = (s.input_len + s.output_len) / threads.max(1) * size_of::<f32>();
    s.cout_g <= PREFETCH_MAX_N && share >= PREFETCH_MIN_BYTES
}

/// Resolves the caller's thread count: 0 = all cores; at most the core count, and at most one thread per
/// [`FLOPS_PER_THREAD`] of the layer.
pub(crate) fn resolve_threads(threads: usize, flops: u64) -> usize {
    // More threads than cores never helps: cap at the core count. `available_parallelism` reads cgroup files on
    // every call (syscalls costing as much as a small layer): once.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t = if threads == 0 { cores } else { threads.min(cores) };
    let useful = usize::try_from(flops / FLOPS_PER_THREAD).unwrap_or(usize::MAX);
    t.min(useful).max(1)
}

/// Splits `total` rows into blocks of `block` (the last may be shorter), or, with a micro-tile of `tile` rows, into
/// blocks of `block / tile` of the [`even_tiles`] of all `total` rows: 49 rows in blocks of 32 on an 8-row tile are
/// 28 + 21 (four and three 7-row tiles), not 32 + 17 (whose tiles would be 6, 6 and 5 rows).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocks {
    total: usize,
    block: usize,
    tile: usize,
}

impl Blocks {
    /// Blocks of `block` rows.
    pub fn new(total: usize, block: usize) -> Self {
        Blocks { total, block: block.max(1), tile: 1 }
    }

    /// Blocks of `block / tile` micro-tiles of `tile` rows or fewer (`block` a multiple of `tile`).
    pub fn tiled(total: usize, block: usize, tile: usize) -> Self {
        let tile = tile.max(1);
        Blocks { total, block: block.max(tile) / tile * tile, tile }
    }

    pub fn count(&self) -> usize {
        self.total.div_ceil(self.tile).div_ceil(self.block / self.tile)
    }

    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        let (tiles, base, extra) = even_split(self.total, self.tile);
        // Row where tile `j` of `even_tiles(0..total, tile)` starts.
        let start = |j: usize| j * base + j.min(extra);
        let per = self.block / self.tile;
        start((i * per).min(tiles))..start(((i + 1) * per).min(tiles))
    }
}

/// The blocks of a GEMM (`outer` independent ones: images or groups) and the order of its tasks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GemmBlocks {
    pub m: Blocks,
    pub n: Blocks,
    /// Tasks run column block by column block (all row blocks of one column block in a row), so that a thread's
    /// run of tasks reads its own share of the weights; otherwise row block by row block.
    pub n_major: bool,
}

impl GemmBlocks {
    /// Tasks per GEMM of the `outer`.
    pub fn per_outer(&self) -> usize {
        self.m.count() * self.n.count()
    }

    /// Task `t`'s (outer index, row block, column block).
    pub fn task(&self, t: usize) -> (usize, usize, usize) {
        let (mcount, ncount) = (self.m.count(), self.n.count());
        let (o, rest) = (t / (mcount * ncount), t % (mcount * ncount));
        if self.n_major { (o, rest % mcount, rest / mcount) } else { (o, rest / ncount, rest % ncount) }
    }
}

/// Chooses (m block, n block) sizes: `n` blocks sized so that a `k x nc` weight slice stays in L2, `m` blocks of
/// a few micro-tiles; they shrink (down to one micro-tile) until every thread has 12 tiles (a thread that falls
/// behind by a tile then costs the layer a twelfth of a share; 12 measured 1.02-1.09x over 6 at two threads on
/// rows of few pixels). Where the weights outweigh the activations (`n > m`) the `n` blocks shrink first and the
/// tasks run column block by column block: each thread then reads its share of the weights, not all of them.
pub(crate) fn choose_blocks(
    m: usize,
    n: usize,
    k: usize,
    mr: usize,
    nr: usize,
    outer: usize,
    threads: usize,
) -> GemmBlocks {
    const L2_BYTES: usize = 256 * 1024;
    let n_round = n.div_ceil(nr) * nr;
    let mut nc = ((L2_BYTES / (4 * k.max(1))) / nr * nr).clamp(nr, n_round.max(nr));
    let mut mc = (mr * 16).min(m.div_ceil(mr) * mr).max(mr);
    let want = if threads > 1 { 12 * threads } else { 1 };
    let count = |mc: usize, nc: usize| outer * Blocks::tiled(m, mc, mr).count() * n.div_ceil(nc);
    let n_major = n > m;
    let halve = |b: usize, r: usize| (b / 2).div_ceil(r) * r;
    if n_major {
        while count(mc, nc) < want && nc > nr {
            nc = halve(nc, nr);
        }
    }
    while count(mc, nc) < want && mc > mr {
        mc = halve(mc, mr);
    }
    while count(mc, nc) < want && nc > nr {
        nc = halve(nc, nr);
    }
    GemmBlocks { m: Blocks::tiled(m, mc, mr), n: Blocks::new(n, nc), n_major }
}

/// Whether a contiguous NHWC 1x1 task runs its tiles panel by panel (each panel's K x NR weights stay in L1 while every
/// tile of the task passes over it, the tiles' A rows coming from L2) rather than tile by tile over every panel (each
/// tile's A rows in L1, the task's panels streamed from L2): for wide-panel kernels (NR >= 32: the AVX-512 8 x 32,
/// 6 x 64 and 4 x 96 tiles and their stand-ins) when the task's panels outgrow L1 (over 32 KiB) and one panel fits it
/// easily (K <= 256). Measured on an Intel Xeon (AVX-512, one thread, six alternating rounds, median per-round ratio
/// against tile by tile): 56x56 64->256 1.05x, 28x28 128->512 1.03x, 56x56 256->128 1.06x, 14x14 256->1024 1.03x, 35x35
/// 192->64 1.02x; where the panels fit L1, 56x56 64->64 0.95x and 28x28 32->192 0.97x; from K = 512 on 0.99-1.00x;
/// AVX2's 6 x 16 tile 0.98-1.03x. NCHW pixel rows (C transposed) in the same strips: 56x56 256->64 and 256->128 0.97x,
/// 35x35 192->64 1.04x, so they keep every panel per tile. The wide 6 x 64 and 4 x 96 tiles keep the same rule (three
/// rounds against no strips for them: 56x56 64->256 1.10-1.23x, 28x28 128->512 1.04-1.11x, 56x56 256->64 1.04-1.10x;
/// against a bound on one panel's size, K x NR x 4 <= 32 KiB: 56x56 64->256 1.04-1.11x).
pub(crate) fn panel_strips(kern: &GemmKernel, k: usize, ncols: usize) -> bool {
    kern.nr() >= 32 && k <= 256 && k * ncols * 4 > 32 * 1024
}

/// Runs `f` with this thread's scratch buffer of at least `len` floats (contents unspecified: callers write
/// before they read). The buffer is kept between calls, so steady-state runs allocate nothing; growth that fails
/// is an out-of-memory error.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> Result<R>) -> Result<R> {
    use std::cell::RefCell;
    thread_local! {
        static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| with_grown(cell, len, 0.0, f))
}

/// [`with_scratch`] with a second buffer of this thread's, for data that a layer's tasks share: a driver takes it
/// on the calling thread around its task runs, whose tasks (on any thread) take their own [`with_scratch`].
pub(crate) fn with_shared_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> Result<R>) -> Result<R> {
    use std::cell::RefCell;
    thread_local! {
        static SHARED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    SHARED.with(|cell| with_grown(cell, len, 0.0, f))
}

/// Runs `f` with the first `len` elements of `cell`'s buffer, grown with `fill` when shorter (contents otherwise
/// unspecified). A tile never runs another tile on its own thread, so the buffer is never borrowed twice; a fresh
/// buffer serves rather than a panic if that ever changes. Failed growth is an out-of-memory error.
pub(crate) fn with_grown<T: Copy, R>(
    cell: &std::cell::RefCell<Vec<T>>,
    len: usize,
    fill: T,
    f: impl FnOnce(&mut [T]) -> Result<R>,
) -> Result<R> {
    match cell.try_borrow_mut() {
        Ok(mut v) => {
            let have = v.len();
            if have < len {
                v.try_reserve_exact(len - have)?;
                v.resize(len, fill);
            }
            f(&mut v[..len])
        }
        Err(_) => {
            let mut v = Vec::new();
            v.try_reserve_exact(len)?;
            v.resize(len, fill);
            f(&mut v)
        }
    }
}

/// The even split of `len` rows into tiles of at most `mr`: `(tiles, base, extra)`, `ceil(len / mr)` tiles, the
/// first `extra` of `base + 1` rows and the others of `base` (all zero for no rows).
fn even_split(len: usize, mr: usize) -> (usize, usize, usize) {
    let tiles = len.div_ceil(mr);
    if tiles == 0 { (0, 0, 0) } else { (tiles, len / tiles, len % tiles) }
}

/// Splits `range` into `ceil(len / mr)` consecutive micro-tiles `(start, rows)` whose row counts differ by at most
/// one (49 rows: 7 x 7, not 6 x 8 + 1; a one-row tile runs at a fraction of the FMA rate).
pub(crate) fn even_tiles(range: std::ops::Range<usize>, mr: usize) -> impl Iterator<Item = (usize, usize)> {
    let (tiles, base, extra) = even_split(range.len(), mr);
    (0..tiles).scan(range.start, move |start, i| {
        let rows = base + usize::from(i < extra);
        let tile = (*start, rows);
        *start += rows;
        Some(tile)
    })
}

/// How [`even_tiles`]`(range, mr)` (for a range of `len` rows) begins: `(full, short)`, its first `full` tiles
/// have the full `mr` rows and the `short` after them `mr - 1` rows (all of them when `mr` or `mr - 1` divides
/// `len`); the tiles after those have fewer rows.
pub(crate) fn tile_runs(len: usize, mr: usize) -> (usize, usize) {
    let (tiles, base, extra) = even_split(len, mr);
    // No tiles (`len == 0`): base and extra are 0 too, so every arm below gives (0, 0).
    match mr - base {
        0 => (tiles, 0),
        1 => (extra, tiles - extra),
        2 => (0, extra),
        _ => (0, 0),
    }
}

/// A 64-byte aligned, zero-initialised f32 buffer whose allocation failure is an error, not an abort.
#[derive(Debug, Clone)]
pub(crate) struct AlignedBuf {
    v: Vec<f32>,
    off: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Result<Self> {
        let mut v = Vec::new();
        v.try_reserve_exact(len.checked_add(16).ok_or(Error::OutOfMemory)?)?;
        v.resize(len + 16, 0.0);
        let off = (v.as_ptr() as usize).wrapping_neg() % 64 / 4;
        Ok(AlignedBuf { v, off, len })
    }
    pub fn as_slice(&self) -> &[f32] {
        &self.v[self.off..self.off + self.len]
    }
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.v[self.off..self.off + self.len]
    }
}

/// Calls `kern` over `tile.nr` columns: the full-width panels (and a tail wide enough for the full entry) in one
/// call, a narrower tail through the entry with fewer vectors.
///
/// # Safety
/// `tile` satisfies the [`GemmTile`] contract except its last-panel width rule, which this function establishes;
/// `kern`'s ISA is available.
#[inline]
pub(crate) unsafe fn call_gemm(kern: &GemmKernel, tile: GemmTile<'_>) {
    // SAFETY: forwarded contract.
    unsafe { call_gemm_as(kern, tile, false) }
}

/// [`call_gemm`] through the plain (`transposed == false`) or the transposed-C entry points (C and the residual
/// addressed as `c + i + j * rsc`, see [`GemmKernel::select_t`]).
///
/// # Safety
/// As [`call_gemm`], for the chosen form of the contract.
#[inline]
pub(crate) unsafe fn call_gemm_as(kern: &GemmKernel, tile: GemmTile<'_>, transposed: bool) {
    let nr_full = kern.nr();
    let tail = if kern.whole_panels(tile.nr) { 0 } else { tile.nr % nr_full };
    let main = tile.nr - tail;
    let select = if transposed { kern.select_t } else { kern.select };
    // Column `main` of C and of the residual.
    let (cm, rm) = if transposed { (main * tile.rsc, main * tile.rsr) } else { (main, main) };
    // SAFETY: both calls cover a prefix/suffix of the caller's columns with the matching panel pointers.
    unsafe {
        if main > 0 {
            select(tile.mr, kern.nv)(&GemmTile { nr: main, ..tile });
        }
        if tail > 0 {
            let q = main / nr_full;
            let t = GemmTile {
                nr: tail,
                b: tile.b.add(q * tile.b_stride),
                bias_col: if tile.bias_col.is_null() { tile.bias_col } else { tile.bias_col.add(q * tile.b_stride) },
                c: tile.c.add(cm),
                res: if tile.res.is_null() { tile.res } else { tile.res.add(rm) },
                ..tile
            };
            select(tile.mr, tail.div_ceil(kern.lanes))(&t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thread counts: capped at the cores and at one thread per `FLOPS_PER_THREAD`; 0 means every core.
    #[test]
    fn thread_count_rules() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let f = FLOPS_PER_THREAD;
        assert_eq!(resolve_threads(1, u64::MAX), 1);
        assert_eq!(resolve_threads(0, u64::MAX), cores);
        assert_eq!(resolve_threads(cores + 5, u64::MAX), cores);
        assert_eq!(resolve_threads(2, 2 * f - 1), 1);
        assert_eq!(resolve_threads(2, 2 * f), 2.min(cores));
        assert_eq!(resolve_threads(64, 3 * f + 1), 3.min(cores));
        assert_eq!(resolve_threads(0, 0), 1);
        assert_eq!(resolve_threads(8, 0), 1);
    }

    /// Tiled blocks partition the rows in order, every block holds whole tiles of the even split of all rows (so
    /// re-splitting a block gives the same tile sizes), and at most `block` rows; plain blocks are `block` rows each.
    #[test]
    fn tiled_blocks_hold_whole_even_tiles() {
        for mr in 1..=17 {
            for total in 0..200 {
                let all: Vec<usize> = even_tiles(0..total, mr).map(|(_, rows)| rows).collect();
                for per in 1..=5 {
                    let b = Blocks::tiled(total, per * mr, mr);
                    let ctx = format!("total {total} mr {mr} per {per}");
                    let mut next = 0;
                    let mut tiles = Vec::new();
                    for i in 0..b.count() {
                        let r = b.range(i);
                        assert!(r.start == next && !r.is_empty() && r.len() <= per * mr, "{ctx}: block {i} {r:?}");
                        next = r.end;
                        let inside: Vec<usize> = even_tiles(r, mr).map(|(_, rows)| rows).collect();
                        assert!(inside.len() <= per, "{ctx}");
                        tiles.extend(inside);
                    }
                    assert_eq!(next, total, "{ctx}");
                    assert_eq!(tiles, all, "{ctx}");
                }
            }
        }
        let plain = Blocks::new(10, 4);
        assert_eq!((0..plain.count()).map(|i| plain.range(i)).collect::<Vec<_>>(), [0..4, 4..8, 8..10]);
        let b = Blocks::tiled(49, 32, 8);
        assert_eq!((0..b.count()).map(|i| b.range(i)).collect::<Vec<_>>(), [0..28, 28..49]);
    }

    /// Weights larger than the activations: the column blocks shrink first, the row blocks stay whole, tasks run
    /// column block by column block; otherwise the row blocks shrink first. Every task index maps to a distinct
    /// (outer, row block, column block).
    #[test]
    fn weight_heavy_layers_split_columns_first() {
        let b = choose_blocks(49, 2048, 512, 8, 32, 1, 2);
        assert!(b.n_major && b.m.count() == 1 && b.n.count() >= 24, "{b:?}");
        let b = choose_blocks(3136, 64, 64, 8, 32, 1, 2);
        assert!(!b.n_major && b.n.count() == 1 && b.m.count() >= 24, "{b:?}");
        for b in [choose_blocks(49, 160, 960, 8, 32, 3, 2), choose_blocks(300, 100, 64, 8, 32, 2, 2)] {
            let mut seen: Vec<_> = (0..3 * b.per_outer()).map(|t| b.task(t)).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 3 * b.per_outer(), "{b:?}");
            assert!(seen.iter().all(|&(o, mi, ni)| o < 3 && mi < b.m.count() && ni < b.n.count()));
        }
    }

    /// `tile_runs` counts exactly the leading full tiles of `even_tiles` and the tiles of one row fewer after
    /// them, and no tile of either size follows those.
    #[test]
    fn tile_runs_lead_even_tiles() {
        for mr in 1..=17 {
            for len in 0..300 {
                let tiles: Vec<_> = even_tiles(100..100 + len, mr).collect();
                let (full, short) = tile_runs(len, mr);
                let ctx = format!("len {len} mr {mr}");
                assert!(tiles[..full].iter().all(|&(_, rows)| rows == mr), "{ctx}");
                assert!(tiles[full..full + short].iter().all(|&(_, rows)| rows + 1 == mr), "{ctx}");
                assert!(tiles[full + short..].iter().all(|&(_, rows)| rows + 1 < mr), "{ctx}");
            }
        }
        // 49 rows on an 8-row tile: seven of seven; 196: twenty-one of eight and four of seven.
        assert_eq!(tile_runs(49, 8), (0, 7));
        assert_eq!(tile_runs(196, 8), (21, 4));
    }
}

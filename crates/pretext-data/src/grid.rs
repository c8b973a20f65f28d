//! Image grids for people to look at: what `pretext show` writes.
//!
//! A [`Grid`] lays [`Image`]s out in rows of a fixed number of cells on a white background,
//! each with a short caption under it in black 8×8 bitmap text (from the `font8x8` crate),
//! and optional full-width row titles. Small images (28×28 digits, 32×32 CIFAR pictures) are
//! enlarged by an integer nearest-neighbour factor so single pixels stay visible. Typical uses:
//!
//! * a jigsaw puzzle as its shuffled tiles ([`Grid::push_tiles`]) captioned with the
//!   permutation index and the network's guess;
//! * one row per sample of *gray input / predicted colour / ground truth*;
//! * one row per sample of *masked input / inpainted / original*.
//!
//! ```no_run
//! # use pretext_data::{Image, grid::Grid};
//! let mut grid = Grid::new(3, 96);
//! grid.push_row_title("sample 0");
//! grid.push(&Image::filled(1, 32, 32, 0.5), "gray input");
//! grid.push(&Image::filled(3, 32, 32, 0.2), "predicted");
//! grid.push(&Image::filled(3, 32, 32, 0.3), "ground truth");
//! grid.save_png(std::path::Path::new("show.png"))?;
//! # Ok::<(), pretext_data::DataError>(())
//! ```

use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::{DataError, Image};

/// Blank space around the whole grid, in pixels.
const MARGIN: usize = 8;
/// Blank space between cells and between rows, in pixels.
const GAP: usize = 8;
/// Blank space between a row's images and their captions, in pixels.
const CAPTION_GAP: usize = 4;
/// Blank space under every line of text, in pixels.
const LINE_GAP: usize = 2;
/// Captions longer than this many lines are cut short with "…".
const MAX_CAPTION_LINES: usize = 3;
/// Row titles longer than this many lines are cut short with "…".
const MAX_TITLE_LINES: usize = 2;
/// A cell is at least this many glyphs wide, so that tiny images still get a readable caption.
const MIN_CELL_CHARS: usize = 6;
/// With automatic text size, text is drawn at ×2 when the widest cell has at least this many
/// pixels, and at ×1 otherwise.
const LARGE_TEXT_CELL_WIDTH: usize = 192;
/// A grid with titles only is at most this many glyphs wide.
const MAX_TITLE_ONLY_CHARS: usize = 80;
/// Side of a glyph of `font8x8`, in pixels.
const GLYPH: usize = 8;

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([0, 0, 0]);
const FRAME: Rgb<u8> = Rgb([192, 192, 192]);

/// A grid of captioned images, rendered to an RGB picture or a PNG file.
///
/// Cells fill rows of `columns` from left to right; [`Grid::push_row_title`] ends the current
/// row early and puts a full-width line of text above the next one. Every column has the width
/// of the widest cell; images are centred in their cell and framed by a thin gray line so
/// white images stay visible on the white background.
#[derive(Clone, Debug)]
pub struct Grid {
    columns: usize,
    min_cell: usize,
    text_scale: Option<usize>,
    items: Vec<Item>,
}

#[derive(Clone, Debug)]
enum Item {
    /// An image, already scaled and converted to 8-bit RGB.
    Cell { pixels: RgbImage, caption: String },
    /// A full-width line of text starting a new row.
    Title(String),
}

impl Grid {
    /// An empty grid with `columns` cells per row (at least 1).
    ///
    /// Every pushed image is enlarged by the smallest integer factor that makes its longer
    /// side at least `min_cell` pixels (nearest neighbour, so each source pixel becomes a
    /// square block); images already that large, and any image when `min_cell` is 0, keep
    /// their size. For example `min_cell = 96` shows 28×28 MNIST digits at 112×112 and
    /// 32×32 CIFAR images at 96×96.
    pub fn new(columns: usize, min_cell: usize) -> Self {
        Grid {
            columns: columns.max(1),
            min_cell,
            text_scale: None,
            items: Vec::new(),
        }
    }

    /// Draws text at a fixed scale (1 gives 8×8-pixel glyphs, 2 gives 16×16; clamped to
    /// 1..=4) instead of the automatic choice (×2 when the widest cell is at least 192
    /// pixels wide, ×1 otherwise).
    #[cfg(test)] // the tests pin the glyph size; every caller takes the automatic one
    pub fn with_text_scale(mut self, scale: usize) -> Self {
        self.text_scale = Some(scale.clamp(1, 4));
        self
    }

    /// Adds one image as the next cell, with `caption` under it (may be empty).
    ///
    /// The image may have any size; a 1-channel image is shown in gray, a 3-channel one in
    /// colour (other channel counts: the first channel in gray). Values are clamped to
    /// `[0, 1]` before conversion to 8 bits. The caption is word-wrapped to the cell width;
    /// a caption longer than three lines ends in "…". `'\n'` forces a line break.
    pub fn push(&mut self, image: &Image, caption: &str) {
        let scale = scale_factor(image.height, image.width, self.min_cell);
        self.items.push(Item::Cell {
            pixels: render_image(image, scale),
            caption: caption.to_owned(),
        });
    }

    /// Ends the current row and starts the next one with `title`, a line of text as wide as
    /// the grid (wrapped to two lines at most). An empty title only ends the row.
    pub fn push_row_title(&mut self, title: &str) {
        self.items.push(Item::Title(title.to_owned()));
    }

    /// Adds several images as one cell: a mosaic of `tiles` in rows of `columns` (at least 1),
    /// separated by `gap` white pixels, with `caption` under it.
    ///
    /// Meant for jigsaw puzzles (e.g. nine tiles in the shuffled order, `columns = 3`).
    /// Tiles are placed in slots as large as the largest tile, centred; the whole mosaic
    /// (without its gaps) is enlarged like a single image of [`Grid::push`], and `gap` is
    /// counted in output pixels, after enlarging. No tiles gives an empty cell.
    pub fn push_tiles(&mut self, tiles: &[Image], columns: usize, gap: usize, caption: &str) {
        let columns = columns.clamp(1, tiles.len().max(1));
        let rows = tiles.len().div_ceil(columns);
        let tile_h = tiles.iter().map(|t| t.height).max().unwrap_or(0);
        let tile_w = tiles.iter().map(|t| t.width).max().unwrap_or(0);
        let scale = scale_factor(rows * tile_h, columns * tile_w, self.min_cell);
        let (slot_h, slot_w) = (tile_h * scale, tile_w * scale);
        let width = columns * slot_w + columns.saturating_sub(1) * gap;
        let height = rows * slot_h + rows.saturating_sub(1) * gap;
        let mut mosaic = RgbImage::from_pixel(px(width), px(height), BACKGROUND);
        for (i, tile) in tiles.iter().enumerate() {
            let (row, col) = (i / columns, i % columns);
            let rendered = render_image(tile, scale);
            let x = col * (slot_w + gap) + (slot_w - tile.width * scale) / 2;
            let y = row * (slot_h + gap) + (slot_h - tile.height * scale) / 2;
            blit(&mut mosaic, &rendered, x, y);
        }
        self.items.push(Item::Cell {
            pixels: mosaic,
            caption: caption.to_owned(),
        });
    }

    /// Number of cells pushed so far (row titles not counted).
    pub fn len(&self) -> usize {
        self.items
            .iter()
            .filter(|item| matches!(item, Item::Cell { .. }))
            .count()
    }

    /// Whether no cell has been pushed yet (row titles not counted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders the grid: white background, images, gray frames around them and black text.
    pub fn to_rgb(&self) -> RgbImage {
        let layout = self.layout();
        let mut canvas = RgbImage::from_pixel(px(layout.width), px(layout.height), BACKGROUND);
        for place in &layout.cells {
            if let Some(Item::Cell { pixels, .. }) = self.items.get(place.item) {
                let (w, h) = (pixels.width() as usize, pixels.height() as usize);
                draw_frame(&mut canvas, place.x, place.y, w, h);
                blit(&mut canvas, pixels, place.x, place.y);
            }
        }
        for text in &layout.texts {
            draw_text(&mut canvas, text.x, text.y, &text.text, layout.text_scale);
        }
        canvas
    }

    /// Writes the grid as an 8-bit RGB PNG file at `path`, whole or not at all
    /// ([`crate::atomic`]: the usual permissions of a new file, no temporary file left
    /// behind).
    ///
    /// # Errors
    /// [`DataError::Io`] naming `path`, and also the folder when that is missing or not a
    /// folder.
    pub fn save_png(&self, path: &Path) -> Result<(), DataError> {
        let (png, _) = self.encode_png(path)?;
        crate::atomic::write(path, &png)
    }

    /// The grid as the bytes of an 8-bit RGB PNG file, and its `[width, height]`; `path` is
    /// the file it is meant for, named if encoding fails.
    ///
    /// # Errors
    /// [`DataError::Format`] naming `path` if the encoder fails.
    pub fn encode_png(&self, path: &Path) -> Result<(Vec<u8>, [u32; 2]), DataError> {
        let rgb = self.to_rgb();
        let size = [rgb.width(), rgb.height()];
        let mut png = std::io::Cursor::new(Vec::new());
        rgb.write_to(&mut png, ImageFormat::Png)
            .map_err(|e| DataError::format(path, format!("cannot encode PNG: {e}")))?;
        Ok((png.into_inner(), size))
    }

    /// Positions of everything to draw, and the size of the picture.
    fn layout(&self) -> Layout {
        let cell_sizes = self.items.iter().filter_map(|item| match item {
            Item::Cell { pixels, .. } => Some((pixels.width() as usize, pixels.height() as usize)),
            Item::Title(_) => None,
        });
        let widest = cell_sizes.map(|(w, _)| w).max();
        let text_scale = self.text_scale.unwrap_or(match widest {
            Some(w) if w >= LARGE_TEXT_CELL_WIDTH => 2,
            _ => 1,
        });
        let glyph = GLYPH * text_scale;
        let line_h = glyph + LINE_GAP;
        let cell_w = widest.map_or(0, |w| w.max(MIN_CELL_CHARS * glyph));

        // Group the items into rows.
        let mut rows: Vec<Row> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Cell { .. } => {
                    current.push(i);
                    if current.len() == self.columns {
                        rows.push(Row::Cells(std::mem::take(&mut current)));
                    }
                }
                Item::Title(title) => {
                    if !current.is_empty() {
                        rows.push(Row::Cells(std::mem::take(&mut current)));
                    }
                    if !title.trim().is_empty() {
                        rows.push(Row::Title(title));
                    }
                }
            }
        }
        if !current.is_empty() {
            rows.push(Row::Cells(current));
        }

        let used_columns = rows
            .iter()
            .map(|row| match row {
                Row::Cells(cells) => cells.len(),
                Row::Title(_) => 0,
            })
            .max()
            .unwrap_or(0);
        let content_w = if used_columns > 0 {
            used_columns * cell_w + (used_columns - 1) * GAP
        } else {
            let longest = rows
                .iter()
                .map(|row| match row {
                    Row::Title(title) => title.chars().count(),
                    Row::Cells(_) => 0,
                })
                .max()
                .unwrap_or(0);
            longest.min(MAX_TITLE_ONLY_CHARS) * glyph
        };
        let title_chars = (content_w / glyph).max(1);
        let caption_chars = (cell_w / glyph).max(1);

        let mut cells = Vec::new();
        let mut texts = Vec::new();
        let mut y = MARGIN;
        for (r, row) in rows.iter().enumerate() {
            if r > 0 {
                y += GAP;
            }
            match row {
                Row::Title(title) => {
                    let lines = wrap(title, title_chars, MAX_TITLE_LINES);
                    for (k, line) in lines.iter().enumerate() {
                        texts.push(TextPlace {
                            x: MARGIN,
                            y: y + k * line_h,
                            text: line.clone(),
                        });
                    }
                    y += lines.len() * line_h;
                }
                Row::Cells(indices) => {
                    let mut image_h = 0;
                    let mut captions = Vec::with_capacity(indices.len());
                    for &i in indices {
                        if let Some(Item::Cell { pixels, caption }) = self.items.get(i) {
                            image_h = image_h.max(pixels.height() as usize);
                            captions.push(wrap(caption, caption_chars, MAX_CAPTION_LINES));
                        }
                    }
                    let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(0);
                    let caption_y = y + image_h + CAPTION_GAP;
                    for (col, (&i, lines)) in indices.iter().zip(&captions).enumerate() {
                        let cell_x = MARGIN + col * (cell_w + GAP);
                        if let Some(Item::Cell { pixels, .. }) = self.items.get(i) {
                            let (w, h) = (pixels.width() as usize, pixels.height() as usize);
                            cells.push(CellPlace {
                                item: i,
                                x: cell_x + (cell_w - w) / 2,
                                y: y + (image_h - h) / 2,
                            });
                        }
                        for (k, line) in lines.iter().enumerate() {
                            let line_w = line.chars().count() * glyph;
                            texts.push(TextPlace {
                                x: cell_x + cell_w.saturating_sub(line_w) / 2,
                                y: caption_y + k * line_h,
                                text: line.clone(),
                            });
                        }
                    }
                    y += image_h;
                    if caption_lines > 0 {
                        y += CAPTION_GAP + caption_lines * line_h;
                    }
                }
            }
        }
        Layout {
            width: 2 * MARGIN + content_w,
            height: y + MARGIN,
            text_scale,
            cells,
            texts,
        }
    }
}

/// A row of the grid, as indices into `Grid::items`.
enum Row<'a> {
    Cells(Vec<usize>),
    Title(&'a str),
}

/// Where things go in the rendered picture.
#[derive(Debug)]
struct Layout {
    width: usize,
    height: usize,
    text_scale: usize,
    cells: Vec<CellPlace>,
    texts: Vec<TextPlace>,
}

/// Top-left corner of the (scaled) image of `Grid::items[item]`.
#[derive(Debug)]
struct CellPlace {
    item: usize,
    x: usize,
    y: usize,
}

/// Top-left corner of one line of text.
#[derive(Debug)]
struct TextPlace {
    x: usize,
    y: usize,
    text: String,
}

/// The smallest integer factor that makes the longer side at least `min_cell` (1 if it
/// already is, or the image is empty).
fn scale_factor(height: usize, width: usize, min_cell: usize) -> usize {
    let longer = height.max(width);
    if longer == 0 || longer >= min_cell {
        1
    } else {
        min_cell.div_ceil(longer)
    }
}

/// A pixel count as `u32`, saturating (the image crate refuses such sizes anyway).
fn px(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A value in `[0, 1]` as 8 bits (clamped; NaN gives 0).
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Converts `image` to 8-bit RGB, each pixel becoming a `scale`×`scale` block. Missing
/// values (data shorter than its shape) are drawn black.
fn render_image(image: &Image, scale: usize) -> RgbImage {
    let (h, w) = (image.height, image.width);
    let plane = h * w;
    let sources = if image.channels >= 3 {
        [0, 1, 2]
    } else {
        [0, 0, 0]
    };
    let value = |c: usize, i: usize| to_u8(image.data.get(c * plane + i).copied().unwrap_or(0.0));
    let mut out = RgbImage::new(px(w * scale), px(h * scale));
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let i = (y as usize / scale) * w + x as usize / scale;
        *pixel = Rgb(sources.map(|c| value(c, i)));
    }
    out
}

/// Copies `src` into `canvas` with its top-left corner at (`x`, `y`), clipped to the canvas.
fn blit(canvas: &mut RgbImage, src: &RgbImage, x: usize, y: usize) {
    image::imageops::replace(canvas, src, x as i64, y as i64);
}

/// A one-pixel frame just outside the `w`×`h` rectangle at (`x`, `y`).
fn draw_frame(canvas: &mut RgbImage, x: usize, y: usize, w: usize, h: usize) {
    if w == 0 || h == 0 {
        return;
    }
    let (left, top) = (x as i64 - 1, y as i64 - 1);
    let (right, bottom) = ((x + w) as i64, (y + h) as i64);
    for i in left..=right {
        put(canvas, i, top, FRAME);
        put(canvas, i, bottom, FRAME);
    }
    for j in top..=bottom {
        put(canvas, left, j, FRAME);
        put(canvas, right, j, FRAME);
    }
}

/// Sets one pixel if it lies on the canvas.
fn put(canvas: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y))
        && x < canvas.width()
        && y < canvas.height()
    {
        canvas.put_pixel(x, y, colour);
    }
}

/// Draws one line of text with its top-left corner at (`x`, `y`), glyphs enlarged `scale`
/// times, clipped to the canvas.
fn draw_text(canvas: &mut RgbImage, x: usize, y: usize, text: &str, scale: usize) {
    for (n, ch) in text.chars().enumerate() {
        let left = x + n * GLYPH * scale;
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..GLYPH {
                // font8x8 stores the leftmost pixel of a row in the least significant bit.
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = left + col * scale + dx;
                        let py = y + row * scale + dy;
                        put(canvas, px as i64, py as i64, INK);
                    }
                }
            }
        }
    }
}

/// "…" (U+2026), which `font8x8` lacks: three 2×2 dots on the baseline.
const ELLIPSIS: [u8; 8] = [0, 0, 0, 0, 0, 0xDB, 0xDB, 0];

/// The 8×8 bitmap of `ch`: ASCII, Latin-1 and Greek letters come from `font8x8`, dashes
/// and curly quotes are drawn as their ASCII look-alikes, anything else as "?".
fn glyph(ch: char) -> [u8; 8] {
    use font8x8::legacy::{BASIC_LEGACY, GREEK_LEGACY, LATIN_LEGACY};
    let ch = match ch {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{2018}' | '\u{2019}' => '\'',
        '\u{201c}' | '\u{201d}' => '"',
        '\u{00d7}' => 'x',
        other => other,
    };
    let code = ch as usize;
    let found = match ch {
        '\u{2026}' => Some(ELLIPSIS),
        ' '..='~' => BASIC_LEGACY.get(code).copied(),
        '\u{a0}'..='\u{ff}' => LATIN_LEGACY.get(code - 0xa0).copied(),
        '\u{390}'..='\u{3c9}' => GREEK_LEGACY.get(code - 0x390).copied(),
        _ => None,
    };
    found.unwrap_or(BASIC_LEGACY[usize::from(b'?')])
}

/// Word-wraps `text` to lines of at most `width` characters (breaking words longer than a
/// line), drops empty lines and, beyond `max_lines`, cuts the text short with "…".
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line: Vec<char> = Vec::new();
        for word in paragraph.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            if !line.is_empty() && line.len() + 1 + word.len() <= width {
                line.push(' ');
                line.extend(word);
                continue;
            }
            if !line.is_empty() {
                lines.push(line.drain(..).collect());
            }
            while word.len() > width {
                lines.push(word.drain(..width).collect());
            }
            line = word;
        }
        if !line.is_empty() {
            lines.push(line.into_iter().collect());
        }
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let mut chars: Vec<char> = last.chars().collect();
            chars.truncate(width - 1);
            chars.push('\u{2026}');
            *last = chars.into_iter().collect();
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-channel image whose every value differs (a gradient per channel).
    fn gradient(height: usize, width: usize) -> Image {
        let n = 3 * height * width;
        Image {
            channels: 3,
            height,
            width,
            data: (0..n).map(|i| i as f32 / (n - 1) as f32).collect(),
        }
    }

    fn is_ink(p: &Rgb<u8>) -> bool {
        *p == INK
    }

    #[test]
    fn grid_dimensions_of_known_layout() {
        // 28×28 with min_cell 64 → ×3 → 84 px cells (wider than 6 glyphs = 48 px, narrower
        // than the ×2 text threshold), so text is ×1: lines of 8 + 2 px.
        let mut grid = Grid::new(3, 64);
        grid.push_row_title("Title");
        for i in 0..4 {
            grid.push(&Image::filled(1, 28, 28, 0.5), &format!("cell {i}"));
        }
        assert_eq!(grid.len(), 4);
        let img = grid.to_rgb();
        let line_h = GLYPH + LINE_GAP;
        let width = 2 * MARGIN + 3 * 84 + 2 * GAP;
        let row_h = 84 + CAPTION_GAP + line_h;
        let height = MARGIN + line_h + GAP + row_h + GAP + row_h + MARGIN;
        assert_eq!(
            (img.width() as usize, img.height() as usize),
            (width, height)
        );
        assert_eq!((width, height), (284, 238));
    }

    #[test]
    fn grid_row_title_ends_row_early() {
        let mut grid = Grid::new(4, 0);
        grid.push(&Image::filled(1, 10, 60, 0.0), "");
        grid.push_row_title("");
        grid.push(&Image::filled(1, 10, 60, 0.0), "");
        let layout = grid.layout();
        assert_eq!(layout.width, 2 * MARGIN + 60);
        assert_eq!(layout.height, 2 * MARGIN + 10 + GAP + 10);
        assert_eq!(layout.cells[1].y, MARGIN + 10 + GAP);
    }

    #[test]
    fn grid_cell_pixels_are_scaled_input() {
        let mut source = gradient(4, 5);
        source.data[0] = -0.5; // clamped to 0
        source.data[1] = 1.5; // clamped to 1
        let mut grid = Grid::new(2, 20); // longer side 5 → ×4
        grid.push(&Image::filled(3, 2, 2, 1.0), "first");
        grid.push(&source, "second");
        let layout = grid.layout();
        let place = &layout.cells[1];
        let img = grid.to_rgb();
        for y in 0..16 {
            for x in 0..20 {
                let (sy, sx) = (y / 4, x / 4);
                let expected = Rgb([0, 1, 2].map(|c| to_u8(source.at(c, sy, sx).clamp(0.0, 1.0))));
                let got = img.get_pixel((place.x + x) as u32, (place.y + y) as u32);
                assert_eq!(*got, expected, "pixel ({x}, {y})");
            }
        }
        // Red of the first two source pixels: clamped from -0.5 and 1.5.
        assert_eq!(img.get_pixel(place.x as u32, place.y as u32)[0], 0);
        assert_eq!(img.get_pixel(place.x as u32 + 4, place.y as u32)[0], 255);
        // The frame sits just outside the image.
        assert_eq!(*img.get_pixel(place.x as u32 - 1, place.y as u32), FRAME);
    }

    #[test]
    fn grid_gray_image_renders_gray() {
        let mut grid = Grid::new(1, 0);
        let mut gray = Image::filled(1, 8, 8, 0.25);
        gray.data[9] = 0.75; // (y 1, x 1)
        grid.push(&gray, "");
        let place = &grid.layout().cells[0];
        let img = grid.to_rgb();
        let v = to_u8(0.25);
        assert_eq!(
            *img.get_pixel(place.x as u32, place.y as u32),
            Rgb([v, v, v])
        );
        let w = to_u8(0.75);
        let p = img.get_pixel(place.x as u32 + 1, place.y as u32 + 1);
        assert_eq!(*p, Rgb([w, w, w]));
    }

    #[test]
    fn grid_caption_text_is_drawn_under_its_image() {
        let mut grid = Grid::new(2, 0);
        grid.push(&Image::filled(3, 40, 60, 1.0), "HI");
        grid.push(&Image::filled(3, 40, 60, 1.0), "");
        let layout = grid.layout();
        let img = grid.to_rgb();
        let caption_top = (MARGIN + 40 + CAPTION_GAP) as u32;
        let ink_in = |x0: usize, x1: usize, y0: u32, y1: u32| {
            (y0..y1)
                .flat_map(|y| (x0 as u32..x1 as u32).map(move |x| (x, y)))
                .filter(|&(x, y)| is_ink(img.get_pixel(x, y)))
                .count()
        };
        let first = &layout.cells[0];
        let second = &layout.cells[1];
        let band = caption_top + GLYPH as u32;
        assert!(ink_in(first.x, first.x + 60, caption_top, band) > 10);
        assert_eq!(ink_in(second.x, second.x + 60, caption_top, band), 0);
        // No ink on the images themselves or above them.
        assert_eq!(ink_in(0, img.width() as usize, 0, caption_top), 0);
    }

    #[test]
    fn grid_tiles_form_a_mosaic_with_gaps() {
        let colours = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0; 3]];
        let tiles: Vec<Image> = colours
            .iter()
            .map(|rgb| Image {
                channels: 3,
                height: 2,
                width: 2,
                data: rgb.iter().flat_map(|&v| [v; 4]).collect(),
            })
            .collect();
        // Mosaic without gaps is 4×4 → ×2 with min_cell 8; tiles 4×4 with a 1 px gap.
        let mut grid = Grid::new(1, 8);
        grid.push_tiles(&tiles, 2, 1, "perm 7");
        let Some(Item::Cell { pixels, .. }) = grid.items.first() else {
            panic!("no cell");
        };
        assert_eq!(pixels.dimensions(), (9, 9));
        assert_eq!(*pixels.get_pixel(0, 0), Rgb([255, 0, 0]));
        assert_eq!(*pixels.get_pixel(3, 3), Rgb([255, 0, 0]));
        assert_eq!(*pixels.get_pixel(4, 0), BACKGROUND);
        assert_eq!(*pixels.get_pixel(5, 0), Rgb([0, 255, 0]));
        assert_eq!(*pixels.get_pixel(0, 5), Rgb([0, 0, 255]));
        assert_eq!(*pixels.get_pixel(8, 8), Rgb([0, 0, 0]));
        // No tiles: an empty cell, still captioned.
        let mut empty = Grid::new(1, 8);
        empty.push_tiles(&[], 3, 2, "none");
        assert_eq!(empty.len(), 1);
        assert!(empty.to_rgb().pixels().any(is_ink));
    }

    #[test]
    fn grid_png_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("grid.png");
        let mut grid = Grid::new(2, 32);
        grid.push_row_title("round trip");
        grid.push(&gradient(7, 9), "colour");
        grid.push(&Image::filled(1, 5, 5, 0.3), "gray");
        grid.save_png(&path).unwrap();
        let read = image::open(&path).unwrap().to_rgb8();
        assert_eq!(read, grid.to_rgb());
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["grid.png"], "no temporary file left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Same permissions as a file created the ordinary way, not a private 0600.
            let plain = tmp.path().join("plain.bin");
            std::fs::write(&plain, b"x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&path), mode(&plain));
            std::fs::remove_file(&plain).unwrap();
        }
        // Saving again replaces the file.
        grid.push(&Image::filled(1, 5, 5, 0.9), "more");
        grid.save_png(&path).unwrap();
        assert_eq!(image::open(&path).unwrap().to_rgb8(), grid.to_rgb());
    }

    #[test]
    fn grid_save_into_missing_folder_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("no_such_folder").join("grid.png");
        let mut grid = Grid::new(1, 0);
        grid.push(&Image::filled(1, 2, 2, 0.0), "");
        let err = grid.save_png(&path).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("no_such_folder"), "{message}");
        assert!(matches!(err, DataError::Io { .. }), "{message}");
    }

    #[test]
    fn grid_wrap_breaks_words_and_truncates() {
        assert_eq!(wrap("", 5, 2), Vec::<String>::new());
        assert_eq!(wrap("ab cd", 5, 2), ["ab cd"]);
        assert_eq!(wrap("hello world", 5, 2), ["hello", "world"]);
        assert_eq!(wrap("hello world foo", 5, 2), ["hello", "worl\u{2026}"]);
        assert_eq!(wrap("abcdefgh", 3, 5), ["abc", "def", "gh"]);
        assert_eq!(wrap("a\nb", 10, 5), ["a", "b"]);
        assert_eq!(wrap("a b c", 1, 2), ["a", "\u{2026}"]);
    }

    #[test]
    fn grid_glyphs_cover_ascii_and_fall_back() {
        assert_eq!(glyph('A'), font8x8::legacy::BASIC_LEGACY[0x41]);
        assert_eq!(glyph('é'), font8x8::legacy::LATIN_LEGACY[0xe9 - 0xa0]);
        assert_eq!(glyph('λ'), font8x8::legacy::GREEK_LEGACY[0x3bb - 0x390]);
        assert_eq!(glyph('\u{1f600}'), glyph('?'));
        assert_eq!(glyph(' '), [0; 8]);
        assert_eq!(glyph('\u{2014}'), glyph('-'));
        assert_eq!(glyph('×'), glyph('x'));
    }

    #[test]
    fn grid_text_scale_doubles_glyphs() {
        let mut grid = Grid::new(1, 0).with_text_scale(2);
        grid.push_row_title("x");
        let layout = grid.layout();
        assert_eq!(layout.height, 2 * MARGIN + 2 * GLYPH + LINE_GAP);
        assert_eq!(layout.width, 2 * MARGIN + 2 * GLYPH);
        // Automatic: wide cells get ×2 text.
        let mut wide = Grid::new(1, 0);
        wide.push(&Image::filled(1, 4, LARGE_TEXT_CELL_WIDTH, 0.0), "x");
        assert_eq!(wide.layout().text_scale, 2);
    }

    #[test]
    fn grid_empty_is_a_blank_margin() {
        let grid = Grid::new(3, 64);
        assert!(grid.is_empty());
        let img = grid.to_rgb();
        assert_eq!(img.dimensions(), (2 * MARGIN as u32, 2 * MARGIN as u32));
        assert!(img.pixels().all(|p| *p == BACKGROUND));
    }
}

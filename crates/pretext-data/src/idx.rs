//! PLACEHOLDER — being written.
#![allow(unused)]
/// Placeholder.
pub struct IdxDataset;
impl IdxDataset {
    /// Placeholder.
    pub fn open(path: &std::path::Path, split: crate::Split, kind: crate::DatasetKind) -> Result<Self, crate::DataError> { unimplemented!() }
}
impl crate::ImageSource for IdxDataset {
    fn len(&self) -> usize { unimplemented!() }
    fn get(&self, index: usize) -> Result<crate::Image, crate::DataError> { unimplemented!() }
    fn label(&self, index: usize) -> Option<u32> { unimplemented!() }
    fn classes(&self) -> Option<&[String]> { unimplemented!() }
    fn channels(&self) -> usize { unimplemented!() }
    fn origin(&self) -> String { unimplemented!() }
}

//! PLACEHOLDER — being written.
#![allow(unused)]
/// Placeholder.
pub struct FolderDataset;
impl FolderDataset {
    /// Placeholder.
    pub fn open(path: &std::path::Path, split: crate::Split, options: &crate::source::OpenOptions) -> Result<Self, crate::DataError> { unimplemented!() }
}
impl crate::ImageSource for FolderDataset {
    fn len(&self) -> usize { unimplemented!() }
    fn get(&self, index: usize) -> Result<crate::Image, crate::DataError> { unimplemented!() }
    fn label(&self, index: usize) -> Option<u32> { unimplemented!() }
    fn classes(&self) -> Option<&[String]> { unimplemented!() }
    fn channels(&self) -> usize { unimplemented!() }
    fn origin(&self) -> String { unimplemented!() }
}

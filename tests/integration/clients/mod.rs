//! The originals' own clients, unchanged, through `userctl serve`: the payloads MMC's profile page
//! sends.

mod mmc;

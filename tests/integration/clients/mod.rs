//! The originals' own clients, unchanged, through `userctl serve`: the payloads MMC's profile page
//! sends, and DeviceHive's published Python client over both of its transports.

mod devicehive;
mod mmc;

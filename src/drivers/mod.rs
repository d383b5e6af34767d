//! Drivers act on real or simulated systems and report what they observe back as commands.

pub mod sim;

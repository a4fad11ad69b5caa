//! # nas-eval
//!
//! Turns a nas [`Architecture`](nas_core::Architecture) into a network, trains it and
//! scores it on real data (MNIST, Fashion-MNIST, CIFAR-10), implementing the core
//! [`Evaluator`](nas_core::Evaluator) trait.

pub mod data;

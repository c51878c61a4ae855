//! Placeholder: API Gateway event fixtures through the handlers (being written).

"""Pure rules of sending, on the models only: text length and the opt-out reply (text), encoding and
segments (encoding), office hours (officehours), the price of a message (ratecard) and the token bucket
that spreads an account's dispatch over time (sendrate). Everything else in messaging builds on these."""

"""Prices (volume tiers, VAT per country), payment providers and tax invoices for credit purchases."""

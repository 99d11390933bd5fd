"""Tests of riskengine.regime."""

package app

// IsCobraUsage exposes isCobraUsage to the external tests.
var IsCobraUsage = isCobraUsage

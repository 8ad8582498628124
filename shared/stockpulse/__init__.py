"""stockpulse: the domain package, shipped to the Lambdas as a layer."""

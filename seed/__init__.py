"""The 2021 report of the Pingdingshan High-tech Zone, as data, and its loader."""

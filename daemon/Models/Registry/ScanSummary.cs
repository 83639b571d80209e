namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>What one scan found: counts by outcome, and every file that could not be read with why.</summary>
internal sealed record ScanSummary(int FilesSeen, int Added, int Updated, int Unchanged, int Removed, IReadOnlyList<ScanFileError> Errors);

internal sealed record ScanFileError(string Path, string Message);

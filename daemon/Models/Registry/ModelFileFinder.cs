using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>
/// The GGUF files a scan looks at: every <c>*.gguf</c> under the scan directories (recursively) plus the configured
/// llama.cpp sources. A split model is represented by its first part (<c>-00001-of-0000N.gguf</c>); other parts are skipped.
/// </summary>
internal static partial class ModelFileFinder
{
    public static IReadOnlyList<string> Find(IEnumerable<string> directories, IEnumerable<string> sources, ICollection<ScanFileError> errors)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var directory in directories)
        {
            if (!Directory.Exists(directory))
            {
                errors.Add(new ScanFileError(directory, "scan directory does not exist"));
                continue;
            }

            try
            {
                var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, MatchCasing = MatchCasing.CaseInsensitive };
                foreach (var file in Directory.EnumerateFiles(directory, "*.gguf", options))
                {
                    if (IsFirstOrWhole(file))
                    {
                        found.Add(Path.GetFullPath(file));
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ScanFileError(directory, e.Message));
            }
        }

        foreach (var source in sources)
        {
            found.Add(Path.GetFullPath(source));
        }

        return [.. found];
    }

    private static bool IsFirstOrWhole(string path)
    {
        var match = SplitPart().Match(Path.GetFileName(path));
        return !match.Success || match.Groups["part"].Value == "00001";
    }

    [GeneratedRegex(@"-(?<part>\d{5})-of-\d{5}\.gguf$", RegexOptions.IgnoreCase)]
    private static partial Regex SplitPart();
}

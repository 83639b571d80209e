using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>
/// The SafeTensors model directories a scan looks at: every directory under the scan directories (the scan directory
/// itself included) that holds a config.json and at least one .safetensors file, plus the configured vLLM sources that
/// are directory paths (a source that is a hub name such as <c>Qwen/Qwen2.5-0.5B</c> is not on this host to scan).
/// </summary>
internal static class SafeTensorsDirectoryFinder
{
    public static IReadOnlyList<string> Find(IEnumerable<string> directories, IEnumerable<string> sources, ICollection<ScanFileError> errors)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        // A missing scan directory is reported by ModelFileFinder; saying it twice would not help.
        foreach (var directory in directories.Where(Directory.Exists))
        {
            try
            {
                var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true };
                foreach (var candidate in Directory.EnumerateDirectories(directory, "*", options).Prepend(directory))
                {
                    if (SafeTensorsShards.IsModelDirectory(candidate))
                    {
                        found.Add(Path.TrimEndingDirectorySeparator(Path.GetFullPath(candidate)));
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ScanFileError(directory, e.Message));
            }
        }

        foreach (var source in sources.Where(Path.IsPathRooted))
        {
            found.Add(Path.TrimEndingDirectorySeparator(Path.GetFullPath(source)));
        }

        return [.. found];
    }
}

namespace UnifiedLlm.Tests.Support;

/// <summary>Paths in the repository and of the built programs the tests drive.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>ullmd.dll and ullmctl.dll are copied next to the test assembly by the project references.</summary>
    public static string Ullmd => Path.Combine(AppContext.BaseDirectory, "ullmd.dll");

    public static string Ullmctl => Path.Combine(AppContext.BaseDirectory, "ullmctl.dll");

    public static string InRepo(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "unified-llm.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no unified-llm.sln above {AppContext.BaseDirectory}");
    }
}

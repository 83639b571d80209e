namespace UnifiedLlm.Tests.Support;

/// <summary>Paths in the repository and of the built programs the tests drive.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>ullmd.dll and ullmctl.dll are copied next to the test assembly by the project references.</summary>
    public static string Ullmd => Path.Combine(AppContext.BaseDirectory, "ullmd.dll");

    /// <summary>
    /// The native ullmd (Native AOT, as README's quick start and the Nix package build it) that tests/run.sh publishes
    /// and names in ULLM_ULLMD; unset, the tests run <see cref="Ullmd"/> with dotnet.
    /// </summary>
    public static string? NativeUllmd => Environment.GetEnvironmentVariable("ULLM_ULLMD") is { Length: > 0 } path ? path : null;

    public static string Ullmctl => Path.Combine(AppContext.BaseDirectory, "ullmctl.dll");

    /// <summary>
    /// tests/tools/FakeBackends, built with the same configuration as the tests (a project reference builds it first);
    /// FAKE_BACKEND=ollama|vllm picks the server it plays.
    /// </summary>
    public static string FakeBackends => InRepo("tests", "tools", "FakeBackends", "bin", new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0", "FakeBackends.dll");

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

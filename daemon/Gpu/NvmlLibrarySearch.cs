namespace UnifiedLlm.Daemon.Gpu;

/// <summary>Where libnvidia-ml is looked for, in order.</summary>
internal static class NvmlLibrarySearch
{
    public const string LibraryName = "libnvidia-ml.so.1";

    /// <summary>NixOS puts driver libraries here, off the loader's default path.</summary>
    public const string NixOsDriverPath = "/run/opengl-driver/lib/" + LibraryName;

    /// <summary>The configured <c>[gpu] nvml_library</c> (if any), then the NixOS driver path, then the loader's default search.</summary>
    public static IReadOnlyList<string> Candidates(string? configuredPath) =>
        string.IsNullOrWhiteSpace(configuredPath)
            ? [NixOsDriverPath, LibraryName]
            : [configuredPath, NixOsDriverPath, LibraryName];
}

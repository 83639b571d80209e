using System.Diagnostics.CodeAnalysis;

namespace UnifiedLlm.Daemon.Gpu;

/// <summary>An initialised NVML with at least one GPU; disposing shuts NVML down and unloads the library.</summary>
internal sealed class NvmlSession : IDisposable
{
    private NvmlSession(NvmlLibrary library, string? driverVersion, int gpuCount)
    {
        Library = library;
        DriverVersion = driverVersion;
        GpuCount = gpuCount;
    }

    public NvmlLibrary Library { get; }

    public string? DriverVersion { get; }

    public int GpuCount { get; }

    /// <summary>Loads the first loadable candidate and initialises NVML.</summary>
    /// <param name="cpuModeReason">When false: why GPUs cannot be used, worded for an operator.</param>
    public static bool TryOpen(
        IReadOnlyList<string> libraryCandidates,
        [NotNullWhen(true)] out NvmlSession? session,
        [NotNullWhen(false)] out string? cpuModeReason)
    {
        session = null;
        var failures = new List<string>();
        foreach (var candidate in libraryCandidates)
        {
            if (!NvmlLibrary.TryLoad(candidate, out var library, out var failure))
            {
                failures.Add(failure);
                continue;
            }

            return TryInit(library, out session, out cpuModeReason);
        }

        cpuModeReason = $"no usable NVIDIA management library ({string.Join("; ", failures)})";
        return false;
    }

    public void Dispose() => Close(Library);

    private static void Close(NvmlLibrary library)
    {
        try
        {
            library.Shutdown();
        }
        catch (NvmlException)
        {
            // A session is closed because NVML failed or is no longer wanted; its shutdown failing changes nothing.
        }
        finally
        {
            library.Dispose();
        }
    }

    private static bool TryInit(NvmlLibrary library, [NotNullWhen(true)] out NvmlSession? session, [NotNullWhen(false)] out string? cpuModeReason)
    {
        session = null;
        try
        {
            library.Init();
        }
        catch (NvmlException e)
        {
            library.Dispose();
            cpuModeReason = e.Code == NvmlReturn.DriverNotLoaded
                ? $"the NVIDIA driver is not loaded ({e.Function} in {library.Path}: {e.NvmlMessage})"
                : $"NVML did not initialise ({e.Message}; library {library.Path})";
            return false;
        }

        try
        {
            var driverVersion = library.GetDriverVersion();
            var count = library.GetDeviceCount();
            if (count == 0)
            {
                cpuModeReason = $"NVML ({library.Path}, driver {driverVersion ?? "unknown"}) reports no GPUs";
                Close(library);
                return false;
            }

            session = new NvmlSession(library, driverVersion, count);
            cpuModeReason = null;
            return true;
        }
        catch (NvmlException e)
        {
            cpuModeReason = $"NVML initialised but could not list GPUs ({e.Message}; library {library.Path})";
            Close(library);
            return false;
        }
    }
}

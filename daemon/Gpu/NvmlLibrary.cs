using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;

namespace UnifiedLlm.Daemon.Gpu;

/// <summary>
/// A loaded libnvidia-ml with its entry points bound to unmanaged function pointers, preferring versioned symbols and
/// falling back to older ones that old drivers export. Every method turns a failing return code into an
/// <see cref="NvmlException"/>, except that a field a device does not support reads as null.
/// Not thread-safe: NVML itself is, but callers here serialise access.
/// </summary>
internal sealed unsafe class NvmlLibrary : IDisposable
{
    private const int NameBufferBytes = 96;
    private const int DriverVersionBufferBytes = 80;
    private const int TemperatureSensorGpu = 0;
    private const int MaxProcessQueryAttempts = 5;
    private const uint MaxProcesses = 4096;

    // NVML_VALUE_NOT_AVAILABLE: NVML cannot see per-process memory (some vGPU and container setups).
    private const ulong ValueNotAvailable = ulong.MaxValue;

    private readonly List<string> boundSymbols = [];
    private IntPtr handle;

    private readonly delegate* unmanaged<int> init;
    private readonly delegate* unmanaged<int> shutdown;
    private readonly delegate* unmanaged<int, byte*> errorString;
    private readonly delegate* unmanaged<byte*, uint, int> getDriverVersion;
    private readonly delegate* unmanaged<uint*, int> getCount;
    private readonly delegate* unmanaged<uint, IntPtr*, int> getHandleByIndex;
    private readonly delegate* unmanaged<IntPtr, byte*, uint, int> getName;
    private readonly delegate* unmanaged<IntPtr, byte*, uint, int> getUuid;
    private readonly delegate* unmanaged<IntPtr, uint*, int> getMinorNumber;
    private readonly delegate* unmanaged<IntPtr, NvmlPciInfo*, int> getPciInfo;
    private readonly delegate* unmanaged<IntPtr, NvmlMemoryV2*, int> getMemoryInfoV2;
    private readonly delegate* unmanaged<IntPtr, NvmlMemory*, int> getMemoryInfo;
    private readonly delegate* unmanaged<IntPtr, NvmlUtilization*, int> getUtilizationRates;
    private readonly delegate* unmanaged<IntPtr, int, uint*, int> getTemperature;
    private readonly delegate* unmanaged<IntPtr, uint*, byte*, int> getComputeRunningProcesses;

    private readonly string initSymbol;
    private readonly string countSymbol;
    private readonly string handleSymbol;
    private readonly string pciSymbol;
    private readonly string processesSymbol;

    private NvmlLibrary(string path, IntPtr handle)
    {
        Path = path;
        this.handle = handle;
        init = (delegate* unmanaged<int>)Bind(out initSymbol, "nvmlInit_v2", "nvmlInit");
        shutdown = (delegate* unmanaged<int>)Bind(out _, "nvmlShutdown");
        errorString = (delegate* unmanaged<int, byte*>)BindOptional("nvmlErrorString");
        getDriverVersion = (delegate* unmanaged<byte*, uint, int>)BindOptional("nvmlSystemGetDriverVersion");
        getCount = (delegate* unmanaged<uint*, int>)Bind(out countSymbol, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
        getHandleByIndex = (delegate* unmanaged<uint, IntPtr*, int>)Bind(
            out handleSymbol, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
        getName = (delegate* unmanaged<IntPtr, byte*, uint, int>)Bind(out _, "nvmlDeviceGetName");
        getUuid = (delegate* unmanaged<IntPtr, byte*, uint, int>)Bind(out _, "nvmlDeviceGetUUID");
        getMinorNumber = (delegate* unmanaged<IntPtr, uint*, int>)BindOptional("nvmlDeviceGetMinorNumber");
        getPciInfo = (delegate* unmanaged<IntPtr, NvmlPciInfo*, int>)Bind(
            out pciSymbol, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo");
        getMemoryInfoV2 = (delegate* unmanaged<IntPtr, NvmlMemoryV2*, int>)BindOptional("nvmlDeviceGetMemoryInfo_v2");
        getMemoryInfo = (delegate* unmanaged<IntPtr, NvmlMemory*, int>)Bind(out _, "nvmlDeviceGetMemoryInfo");

        getUtilizationRates = (delegate* unmanaged<IntPtr, NvmlUtilization*, int>)BindOptional("nvmlDeviceGetUtilizationRates");
        getTemperature = (delegate* unmanaged<IntPtr, int, uint*, int>)BindOptional("nvmlDeviceGetTemperature");
        getComputeRunningProcesses = (delegate* unmanaged<IntPtr, uint*, byte*, int>)Bind(
            out processesSymbol,
            "nvmlDeviceGetComputeRunningProcesses_v3",
            "nvmlDeviceGetComputeRunningProcesses_v2",
            "nvmlDeviceGetComputeRunningProcesses");
    }

    /// <summary>The path or name the library was loaded from.</summary>
    public string Path { get; }

    /// <summary>The exported symbols bound, in binding order (shows which fallbacks an old driver needed).</summary>
    public IReadOnlyList<string> BoundSymbols => boundSymbols;

    /// <summary>Loads the library at <paramref name="path"/> (a path, or a bare name for the loader's search).</summary>
    /// <param name="failure">Why not, when false: not loadable, or a required entry point is missing.</param>
    public static bool TryLoad(string path, [NotNullWhen(true)] out NvmlLibrary? library, [NotNullWhen(false)] out string? failure)
    {
        library = null;
        if (!NativeLibrary.TryLoad(path, out var handle))
        {
            failure = File.Exists(path) ? $"{path} exists but could not be loaded" : $"{path} not found";
            return false;
        }

        try
        {
            library = new NvmlLibrary(path, handle);
            failure = null;
            return true;
        }
        catch (EntryPointNotFoundException e)
        {
            NativeLibrary.Free(handle);
            failure = $"{path} lacks the entry point {e.Message}";
            return false;
        }
    }

    /// <summary>nvmlInit_v2 (or nvmlInit); NVML counts inits, each needs a <see cref="Shutdown"/>.</summary>
    public void Init() => Check(init(), initSymbol, null);

    public void Shutdown() => Check(shutdown(), "nvmlShutdown", null);

    /// <summary>NVML's own text for a return code (nvmlErrorString), or the code's name where the library lacks it.</summary>
    public string ErrorString(NvmlReturn code)
    {
        var text = errorString == null ? null : Marshal.PtrToStringUTF8((IntPtr)errorString((int)code));
        return text ?? code.ToString();
    }

    /// <summary>The driver version, or null where NVML does not support the query.</summary>
    public string? GetDriverVersion()
    {
        if (getDriverVersion == null)
        {
            return null;
        }

        var buffer = stackalloc byte[DriverVersionBufferBytes];
        return Supported(getDriverVersion(buffer, DriverVersionBufferBytes), "nvmlSystemGetDriverVersion", null)
            ? DecodeText(buffer, DriverVersionBufferBytes)
            : null;
    }

    public int GetDeviceCount()
    {
        uint count;
        Check(getCount(&count), countSymbol, null);
        return checked((int)count);
    }

    public NvmlDevice GetDevice(int index)
    {
        IntPtr device;
        Check(getHandleByIndex(checked((uint)index), &device), handleSymbol, index);
        return new NvmlDevice(index, device);
    }

    public string GetName(NvmlDevice device) => GetText(getName, "nvmlDeviceGetName", device);

    public string GetUuid(NvmlDevice device) => GetText(getUuid, "nvmlDeviceGetUUID", device);

    /// <summary>The N in /dev/nvidiaN, or null where unsupported.</summary>
    public int? GetMinorNumber(NvmlDevice device)
    {
        if (getMinorNumber == null)
        {
            return null;
        }

        uint minor;
        return Supported(getMinorNumber(device.Handle, &minor), "nvmlDeviceGetMinorNumber", device.Index) ? (int)minor : null;
    }

    /// <summary>The PCI bus id as domain:bus:device.function with an 8-digit domain, whichever call the driver has.</summary>
    public string GetPciBusId(NvmlDevice device)
    {
        NvmlPciInfo info;
        Check(getPciInfo(device.Handle, &info), pciSymbol, device.Index);
        return pciSymbol == "nvmlDeviceGetPciInfo"
            ? $"{info.Domain:X8}:{info.Bus:X2}:{info.Device:X2}.0"
            : DecodeText(info.BusId, 32);
    }

    /// <summary>
    /// Total, used and free bytes; used counts driver-reserved memory so that used + free = total. Drivers that export
    /// the _v2 call but refuse it for a device (not supported, or a struct version they do not know) get the old call.
    /// </summary>
    public (ulong Total, ulong Used, ulong Free) GetMemory(NvmlDevice device)
    {
        if (getMemoryInfoV2 != null)
        {
            var v2 = new NvmlMemoryV2 { Version = NvmlMemoryV2.Version2 };
            var code = (NvmlReturn)getMemoryInfoV2(device.Handle, &v2);
            if (code == NvmlReturn.Success)
            {
                return (v2.Total, v2.Used + v2.Reserved, v2.Free);
            }

            if (code is not (NvmlReturn.NotSupported or NvmlReturn.ArgumentVersionMismatch or NvmlReturn.FunctionNotFound))
            {
                throw Error(code, "nvmlDeviceGetMemoryInfo_v2", device.Index);
            }
        }

        NvmlMemory v1;
        Check(getMemoryInfo(device.Handle, &v1), "nvmlDeviceGetMemoryInfo", device.Index);
        return (v1.Total, v1.Used, v1.Free);
    }

    /// <summary>GPU and memory utilisation percent, or null where unsupported.</summary>
    public (uint Gpu, uint Memory)? GetUtilization(NvmlDevice device)
    {
        if (getUtilizationRates == null)
        {
            return null;
        }

        NvmlUtilization utilization;
        return Supported(getUtilizationRates(device.Handle, &utilization), "nvmlDeviceGetUtilizationRates", device.Index)
            ? (utilization.Gpu, utilization.Memory)
            : null;
    }

    /// <summary>GPU die temperature in °C, or null where unsupported.</summary>
    public uint? GetTemperature(NvmlDevice device)
    {
        if (getTemperature == null)
        {
            return null;
        }

        uint celsius;
        return Supported(getTemperature(device.Handle, TemperatureSensorGpu, &celsius), "nvmlDeviceGetTemperature", device.Index)
            ? celsius
            : null;
    }

    /// <summary>
    /// The compute processes on a device: asks for the count first (NVML answers INSUFFICIENT_SIZE with the count it
    /// needs), then reads, asking again while processes keep appearing between the two calls.
    /// </summary>
    public NvmlProcessList GetComputeRunningProcesses(NvmlDevice device)
    {
        uint count = 0;
        var code = (NvmlReturn)getComputeRunningProcesses(device.Handle, &count, null);
        if (code == NvmlReturn.Success)
        {
            return new NvmlProcessList([], processesSymbol, ProcessEntryLayout.CandidateSizes(processesSymbol)[0]);
        }

        for (var attempt = 0; attempt < MaxProcessQueryAttempts; attempt++)
        {
            if (code != NvmlReturn.InsufficientSize)
            {
                throw Error(code, processesSymbol, device.Index);
            }

            if (count > MaxProcesses)
            {
                throw new InvalidDataException(
                    $"{processesSymbol} reports {count} processes on GPU {device.Index}, more than the {MaxProcesses} this daemon reads");
            }

            var buffer = new byte[(int)count * ProcessEntryLayout.LargestEntryBytes];
            buffer.AsSpan().Fill(ProcessEntryLayout.FillPattern);
            fixed (byte* entries = buffer)
            {
                code = (NvmlReturn)getComputeRunningProcesses(device.Handle, &count, entries);
            }

            if (code == NvmlReturn.Success)
            {
                return ParseProcesses(buffer, (int)count);
            }
        }

        throw new NvmlException(
            code,
            processesSymbol,
            $"{ErrorString(code)}; the process list kept growing over {MaxProcessQueryAttempts} attempts",
            device.Index);
    }

    public void Dispose()
    {
        if (handle != IntPtr.Zero)
        {
            NativeLibrary.Free(handle);
            handle = IntPtr.Zero;
        }
    }

    private NvmlProcessList ParseProcesses(byte[] buffer, int count)
    {
        var candidates = ProcessEntryLayout.CandidateSizes(processesSymbol);
        var entryBytes = ProcessEntryLayout.DetectEntryBytes(buffer, count, candidates, processesSymbol);
        var entries = new NvmlProcessEntry[count];
        for (var i = 0; i < count; i++)
        {
            var entry = buffer.AsSpan(i * entryBytes, entryBytes);
            var pid = BinaryPrimitives.ReadUInt32LittleEndian(entry[ProcessEntryLayout.PidOffset..]);
            var used = BinaryPrimitives.ReadUInt64LittleEndian(entry[ProcessEntryLayout.UsedMemoryOffset..]);
            // Unknown per-process memory counts as 0: an undercount of that process, while device totals stay right.
            if (pid is 0 or > int.MaxValue)
            {
                throw new InvalidDataException($"{processesSymbol} returned {pid} as the PID of entry {i} of {count}");
            }

            entries[i] = new NvmlProcessEntry((int)pid, used == ValueNotAvailable ? 0 : used);
        }

        return new NvmlProcessList(entries, processesSymbol, entryBytes);
    }

    private string GetText(delegate* unmanaged<IntPtr, byte*, uint, int> function, string symbol, NvmlDevice device)
    {
        var buffer = stackalloc byte[NameBufferBytes];
        Check(function(device.Handle, buffer, NameBufferBytes), symbol, device.Index);
        return DecodeText(buffer, NameBufferBytes);
    }

    private static string DecodeText(byte* buffer, int capacity)
    {
        var bytes = new ReadOnlySpan<byte>(buffer, capacity);
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    private bool Supported(int code, string symbol, int? gpuIndex)
    {
        if ((NvmlReturn)code == NvmlReturn.NotSupported)
        {
            return false;
        }

        Check(code, symbol, gpuIndex);
        return true;
    }

    private void Check(int code, string symbol, int? gpuIndex)
    {
        if ((NvmlReturn)code != NvmlReturn.Success)
        {
            throw Error((NvmlReturn)code, symbol, gpuIndex);
        }
    }

    private NvmlException Error(NvmlReturn code, string symbol, int? gpuIndex) => new(code, symbol, ErrorString(code), gpuIndex);

    private IntPtr Bind(out string symbol, params string[] names)
    {
        foreach (var name in names)
        {
            if (NativeLibrary.TryGetExport(handle, name, out var address))
            {
                boundSymbols.Add(name);
                symbol = name;
                return address;
            }
        }

        throw new EntryPointNotFoundException(string.Join(" or ", names));
    }

    private IntPtr BindOptional(string name)
    {
        if (!NativeLibrary.TryGetExport(handle, name, out var address))
        {
            return IntPtr.Zero;
        }

        boundSymbols.Add(name);
        return address;
    }
}

using System.Runtime.InteropServices;

namespace UnifiedLlm.Daemon.Gpu;

// NVML's x86_64/aarch64 struct layouts (nvml.h); sequential layout reproduces the C padding.

/// <summary>nvmlMemory_t (24 bytes), filled by nvmlDeviceGetMemoryInfo; used includes driver-reserved memory.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemory
{
    public ulong Total;
    public ulong Free;
    public ulong Used;
}

/// <summary>nvmlMemory_v2_t (40 bytes), filled by nvmlDeviceGetMemoryInfo_v2; used excludes driver-reserved memory.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemoryV2
{
    /// <summary>NVML_STRUCT_VERSION(Memory, 2): the struct size with the version number in the top byte.</summary>
    public const uint Version2 = 40 | (2u << 24);

    public uint Version;
    public ulong Total;
    public ulong Reserved;
    public ulong Free;
    public ulong Used;
}

/// <summary>nvmlUtilization_t: percent of the last sample period the GPU / its memory was busy.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlUtilization
{
    public uint Gpu;
    public uint Memory;
}

/// <summary>
/// nvmlPciInfo_t as written by nvmlDeviceGetPciInfo_v2/_v3 (68 bytes). The unversioned call writes the older 52-byte
/// layout whose first 36 bytes (a 16-byte bus id, then domain, bus, device, ids) coincide with this one.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlPciInfo
{
    public fixed byte BusIdLegacy[16];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;
    public fixed byte BusId[32];
}

using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>
/// Reads a JSON side file (config.json, the shard index) whole, refusing pipes and anything implausibly large. A UTF-8
/// byte order mark, which some editors and tools write, is dropped because the JSON parser does not accept one.
/// </summary>
internal static class SmallJsonFile
{
    private const long MaxBytes = 64 * 1024 * 1024;

    public static ReadOnlyMemory<byte> ReadAllBytes(string path)
    {
        FileStream stream;
        try
        {
            stream = RegularFile.OpenRead(path);
        }
        catch (GgufFormatException e)
        {
            throw new SafeTensorsFormatException(path, null, e.Problem);
        }

        using (stream)
        {
            if (stream.Length > MaxBytes)
            {
                throw new SafeTensorsFormatException(path, null, $"the file is {stream.Length} bytes, more than the {MaxBytes}-byte limit");
            }

            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            return bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes.AsMemory(3) : bytes;
        }
    }
}

using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;

// usage: MakeTinyModel OUT.gguf [f32|f16] [seed]
if (args.Length is < 1 or > 3)
{
    await Console.Error.WriteLineAsync("usage: MakeTinyModel OUT.gguf [f32|f16] [seed]");
    return 2;
}

var type = args.Length > 1 ? args[1].ToLowerInvariant() : "f32";
if (type is not ("f32" or "f16"))
{
    await Console.Error.WriteLineAsync($"weight type must be f32 or f16, not '{args[1]}'");
    return 2;
}

var seed = 0;
if (args.Length > 2 && !int.TryParse(args[2], out seed))
{
    await Console.Error.WriteLineAsync($"seed must be an integer, not '{args[2]}'");
    return 2;
}

TinyModel.Write(args[0], type == "f16" ? GgmlType.F16 : GgmlType.F32, seed);
Console.WriteLine($"wrote {args[0]} ({new FileInfo(args[0]).Length} bytes)");
return 0;

using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace UnifiedLlm.Daemon.Config;

/// <summary>Source-generated reading of the config's TOML into a table (ullmd binds the table itself, with locations), so no reflection is needed.</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class ConfigTomlContext : TomlSerializerContext
{
    /// <summary>The table's metadata under <paramref name="options"/> (the file's name for errors, where to keep key locations).</summary>
    public static TomlTypeInfo<TomlTable> Table(TomlSerializerOptions options) =>
        (TomlTypeInfo<TomlTable>)Default.GetTypeInfo(typeof(TomlTable), options with { TypeInfoResolver = Default })!;
}

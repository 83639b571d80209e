using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>Typed reads of a request tree that turn a wrong type into a 400 naming the field, never an exception from the tree.</summary>
internal static class Json
{
    /// <summary>The node's text when it is a JSON string; null for anything else (a number, an object, missing).</summary>
    public static string? Text(JsonNode? node)
    {
        try
        {
            return node is JsonValue value && value.TryGetValue(out string? text) ? text : null;
        }
        catch (InvalidOperationException)
        {
            // The bytes are valid UTF-8 (RequestBody checked); an escape such as "\ud800" is not a whole character.
            throw GatewayException.BadField(node!.GetPath().TrimStart('$').TrimStart('.'), "is not valid Unicode (an unpaired surrogate escape)");
        }
    }

    /// <summary>A JSON number's value, however the tree holds it (parsed, or set from an int or a double).</summary>
    public static bool TryNumber(JsonNode? node, out double number)
    {
        number = 0;
        return node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            && double.TryParse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>A JSON number that is a whole number within a long.</summary>
    public static bool TryInteger(JsonNode? node, out long integer)
    {
        integer = 0;
        return node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            && long.TryParse(value.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out integer);
    }

    public static bool Flag(JsonNode node, string field) =>
        node is JsonValue value && value.TryGetValue(out bool flag) ? flag : throw GatewayException.BadField(field, "must be true or false");
}

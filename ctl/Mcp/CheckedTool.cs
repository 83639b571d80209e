using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace UnifiedLlm.Ctl.Mcp;

/// <summary>
/// Checks a tool call's arguments against the tool's input schema before it runs: a missing required argument, an
/// unknown one or one of the wrong JSON type is a tool error that says which and why. Without it the SDK's binder
/// failed such calls with only "An error occurred invoking 'TOOL'.", giving the model nothing to correct.
/// </summary>
internal sealed class CheckedTool(McpServerTool inner) : DelegatingMcpServerTool(inner)
{
    public override ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        var problems = Problems(ProtocolTool.InputSchema, request.Params?.Arguments);
        return problems.Count == 0
            ? base.InvokeAsync(request, cancellationToken)
            : ValueTask.FromResult(new CallToolResult
            {
                IsError = true,
                Content = [new TextContentBlock { Text = $"invalid arguments for '{ProtocolTool.Name}': {string.Join("; ", problems)}" }],
            });
    }

    internal static List<string> Problems(JsonElement schema, IDictionary<string, JsonElement>? arguments)
    {
        var problems = new List<string>();
        var properties = schema.TryGetProperty("properties", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        if (schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array)
        {
            foreach (var name in required.EnumerateArray().Select(r => r.GetString()).OfType<string>())
            {
                if (arguments is null || !arguments.ContainsKey(name))
                {
                    problems.Add($"'{name}' is required");
                }
            }
        }

        foreach (var (name, value) in arguments ?? new Dictionary<string, JsonElement>())
        {
            if (properties.ValueKind != JsonValueKind.Object || !properties.TryGetProperty(name, out var property))
            {
                var known = properties.ValueKind == JsonValueKind.Object ? string.Join(", ", properties.EnumerateObject().Select(o => o.Name)) : "none";
                problems.Add($"'{name}' is not an argument of this tool (its arguments: {known})");
            }
            else if (Types(property) is { Count: > 0 } types && !types.Any(t => Matches(t, value)))
            {
                problems.Add($"'{name}' must be {string.Join(" or ", types)}, not {Describe(value)}");
            }
            else if (value.ValueKind == JsonValueKind.Number && OutOfRange(property, value.GetDouble()) is { } range)
            {
                problems.Add($"'{name}' must be {range}, not {value.GetRawText()}");
            }
        }

        return problems;
    }

    private static string? OutOfRange(JsonElement property, double value) =>
        property.TryGetProperty("minimum", out var min) && min.ValueKind == JsonValueKind.Number && value < min.GetDouble() ? $"at least {min.GetRawText()}"
        : property.TryGetProperty("maximum", out var max) && max.ValueKind == JsonValueKind.Number && value > max.GetDouble() ? $"at most {max.GetRawText()}"
        : null;

    private static List<string> Types(JsonElement property) =>
        !property.TryGetProperty("type", out var type) ? []
        : type.ValueKind == JsonValueKind.String ? [type.GetString()!]
        : type.ValueKind == JsonValueKind.Array ? [.. type.EnumerateArray().Select(t => t.GetString()).OfType<string>()]
        : [];

    private static bool Matches(string type, JsonElement value) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "integer" => value.ValueKind == JsonValueKind.Number && (value.TryGetInt64(out _) || value.TryGetUInt64(out _)),
        "number" => value.ValueKind == JsonValueKind.Number,
        "null" => value.ValueKind == JsonValueKind.Null,
        "array" => value.ValueKind == JsonValueKind.Array,
        "object" => value.ValueKind == JsonValueKind.Object,
        _ => true,
    };

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => value.ValueKind.ToString(),
    };
}

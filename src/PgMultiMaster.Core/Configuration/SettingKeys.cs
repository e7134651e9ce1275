using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace PgMultiMaster.Configuration;

/// <summary>
/// Refuses keys of the <c>PgMultiMaster</c> section that bind to nothing. The binder ignores them, so a misspelt
/// <c>Apply:BatchSise</c> would leave the default in force without a word. The valid keys are read from the options
/// classes themselves, so a new option needs no second list. Keys compare case-insensitively, as configuration does.
/// </summary>
public static class SettingKeys
{
    /// <summary>
    /// One message per unknown key, naming its full path and the nearest valid key beside it, e.g.
    /// <c>PgMultiMaster:Apply:BatchSise is not a setting; did you mean PgMultiMaster:Apply:BatchSize?</c>
    /// </summary>
    public static IReadOnlyList<string> Unknown(IConfiguration configuration)
    {
        var errors = new List<string>();
        var section = configuration.GetSection(PgMultiMasterOptions.SectionName);
        if (section.Exists()) Check(section, typeof(PgMultiMasterOptions), PgMultiMasterOptions.SectionName, errors);
        return errors;
    }

    private static void Check(IConfigurationSection section, Type type, string canonicalPath, List<string> errors)
    {
        if (IsScalar(type)) return;
        if (DictionaryValueType(type) is { } valueType)
        {
            // The keys of a dictionary are data (table, column and conflict-type names), checked by OptionsValidator;
            // only what lies inside each entry is a setting.
            foreach (var entry in section.GetChildren())
                Check(entry, valueType, $"{canonicalPath}:{entry.Key}", errors);
            return;
        }
        if (ElementType(type) is { } elementType)
        {
            foreach (var item in section.GetChildren())
                Check(item, elementType, $"{canonicalPath}:{item.Key}", errors);
            return;
        }
        var properties = Settings(type);
        foreach (var child in section.GetChildren())
        {
            var property = properties.FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
                errors.Add($"{child.Path} is not a setting; did you mean {canonicalPath}:{Nearest.Of(child.Key, properties.Select(p => p.Name))}?");
            else
                Check(child, property.PropertyType, $"{canonicalPath}:{property.Name}", errors);
        }
    }

    /// <summary>What the binder binds: public instance properties it can read (static ones such as <c>Strategies</c> are not settings).</summary>
    private static PropertyInfo[] Settings(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetMethod is not null && p.GetIndexParameters().Length == 0).ToArray();

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
               || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Uri) || type == typeof(Guid);
    }

    private static Type? DictionaryValueType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() is var d && (d == typeof(Dictionary<,>) || d == typeof(IDictionary<,>) || d == typeof(IReadOnlyDictionary<,>))
            ? type.GetGenericArguments()[1]
            : null;

    private static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) ? type.GetGenericArguments()[0]
        : null;
}

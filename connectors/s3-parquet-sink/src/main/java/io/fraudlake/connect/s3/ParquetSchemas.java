package io.fraudlake.connect.s3;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.DataException;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.LogicalTypeAnnotation.TimeUnit;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.apache.parquet.schema.Type.Repetition;
import org.apache.parquet.schema.Types;

/**
 * Connect schemas → the Parquet schema of an object, in the column layout of {@link OutputLayout}.
 *
 * <p>Primitive fields map to the matching Parquet types (INT8/INT16 as annotated INT32, STRING as UTF-8
 * BINARY); the logical types Timestamp, Date and Time become Parquet TIMESTAMP(MILLIS, UTC), DATE and
 * TIME(MILLIS); a Struct becomes a group; optional fields become OPTIONAL columns. ARRAY, MAP and Decimal
 * are refused with a {@link DataException} that names the field.
 */
public final class ParquetSchemas {

    public static final String KAFKA_PARTITION = "_kafka_partition";
    public static final String KAFKA_OFFSET = "_kafka_offset";
    public static final String KAFKA_TIMESTAMP = "_kafka_timestamp";
    static final Set<String> KAFKA_COLUMNS = Set.of(KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_TIMESTAMP);

    /** Aiven's record name for envelope layouts. */
    static final String ENVELOPE_NAME = "connector_records";

    private ParquetSchemas() {}

    /** The Parquet schema for values of {@code valueSchema}, written as top-level columns (envelope off). */
    public static MessageType toParquet(Schema valueSchema, boolean kafkaMetadataColumns) {
        return toParquet(null, valueSchema, OutputLayout.flatValue(kafkaMetadataColumns));
    }

    /**
     * The Parquet schema for records with these key and value schemas in {@code layout}.
     *
     * @param keySchema only read when the layout writes the key
     * @throws DataException naming the field when a schema is missing or holds a type not supported here
     */
    static MessageType toParquet(Schema keySchema, Schema valueSchema, OutputLayout layout) {
        List<Type> columns = new ArrayList<>();
        String name;
        if (layout.envelope()) {
            name = ENVELOPE_NAME;
            for (OutputLayout.Part part : layout.parts()) {
                columns.add(envelopeColumn(part, keySchema, valueSchema));
            }
        } else {
            requireStructValue(valueSchema);
            name = messageName(valueSchema);
            for (Field field : valueSchema.fields()) {
                if (layout.kafkaMetadataColumns() && KAFKA_COLUMNS.contains(field.name())) {
                    throw new DataException("field '" + field.name() + "' clashes with the Kafka metadata column "
                            + "of the same name (" + S3SinkConfig.KAFKA_METADATA_COLUMNS + "=true)");
                }
                columns.add(column(field.name(), field.schema()));
            }
        }
        if (layout.kafkaMetadataColumns()) {
            columns.add(Types.required(PrimitiveTypeName.INT32).named(KAFKA_PARTITION));
            columns.add(Types.required(PrimitiveTypeName.INT64).named(KAFKA_OFFSET));
            columns.add(Types.optional(PrimitiveTypeName.INT64)
                    .as(LogicalTypeAnnotation.timestampType(true, TimeUnit.MILLIS))
                    .named(KAFKA_TIMESTAMP));
        }
        return new MessageType(name, columns);
    }

    private static Type envelopeColumn(OutputLayout.Part part, Schema keySchema, Schema valueSchema) {
        return switch (part) {
            case KEY -> column(part.column(), requireSchema(keySchema, "key"));
            case VALUE -> column(part.column(), requireSchema(valueSchema, "value"));
            case OFFSET, TIMESTAMP -> Types.required(PrimitiveTypeName.INT64).named(part.column());
        };
    }

    private static Type column(String name, Schema schema) {
        Repetition repetition = schema.isOptional() ? Repetition.OPTIONAL : Repetition.REQUIRED;
        String logical = schema.name();
        if (Timestamp.LOGICAL_NAME.equals(logical)) {
            return Types.primitive(PrimitiveTypeName.INT64, repetition)
                    .as(LogicalTypeAnnotation.timestampType(true, TimeUnit.MILLIS))
                    .named(name);
        }
        if (Date.LOGICAL_NAME.equals(logical)) {
            return Types.primitive(PrimitiveTypeName.INT32, repetition).as(LogicalTypeAnnotation.dateType()).named(name);
        }
        if (Time.LOGICAL_NAME.equals(logical)) {
            return Types.primitive(PrimitiveTypeName.INT32, repetition)
                    .as(LogicalTypeAnnotation.timeType(true, TimeUnit.MILLIS))
                    .named(name);
        }
        if (Decimal.LOGICAL_NAME.equals(logical)) {
            throw unsupported(name, "Decimal (no precision in the Connect schema); send it as a double or string");
        }
        return switch (schema.type()) {
            case INT8 -> Types.primitive(PrimitiveTypeName.INT32, repetition)
                    .as(LogicalTypeAnnotation.intType(8, true))
                    .named(name);
            case INT16 -> Types.primitive(PrimitiveTypeName.INT32, repetition)
                    .as(LogicalTypeAnnotation.intType(16, true))
                    .named(name);
            case INT32 -> Types.primitive(PrimitiveTypeName.INT32, repetition).named(name);
            case INT64 -> Types.primitive(PrimitiveTypeName.INT64, repetition).named(name);
            case FLOAT32 -> Types.primitive(PrimitiveTypeName.FLOAT, repetition).named(name);
            case FLOAT64 -> Types.primitive(PrimitiveTypeName.DOUBLE, repetition).named(name);
            case BOOLEAN -> Types.primitive(PrimitiveTypeName.BOOLEAN, repetition).named(name);
            case STRING -> Types.primitive(PrimitiveTypeName.BINARY, repetition)
                    .as(LogicalTypeAnnotation.stringType())
                    .named(name);
            case BYTES -> Types.primitive(PrimitiveTypeName.BINARY, repetition).named(name);
            case STRUCT -> group(name, schema, repetition);
            case ARRAY, MAP -> throw unsupported(name,
                    schema.type() + "; flatten or drop it first (e.g. with an SMT)");
        };
    }

    private static Type group(String name, Schema schema, Repetition repetition) {
        if (schema.fields().isEmpty()) {
            throw unsupported(name, "STRUCT without fields (Parquet groups need at least one column)");
        }
        List<Type> members = new ArrayList<>();
        for (Field field : schema.fields()) {
            members.add(column(field.name(), field.schema()));
        }
        return new org.apache.parquet.schema.GroupType(repetition, name, members);
    }

    private static void requireStructValue(Schema valueSchema) {
        requireSchema(valueSchema, "value");
        if (valueSchema.type() != Schema.Type.STRUCT) {
            throw new DataException("the record value has schema type " + valueSchema.type() + ": with "
                    + S3SinkConfig.FORMAT_OUTPUT_ENVELOPE + "=false a Struct is needed, its fields become the columns");
        }
        if (valueSchema.fields().isEmpty()) {
            throw new DataException("the record value's Struct has no fields: Parquet needs at least one column");
        }
    }

    private static Schema requireSchema(Schema schema, String part) {
        if (schema == null) {
            throw new DataException("the record " + part + " has no schema: use a converter that carries one (e.g. "
                    + "JsonConverter with schemas.enable=true, StringConverter for keys, or Avro)");
        }
        return schema;
    }

    private static DataException unsupported(String field, String what) {
        return new DataException("field '" + field + "' has type " + what + ": not supported by "
                + S3ParquetSinkConnector.class.getSimpleName());
    }

    /** Parquet message names are identifiers; Connect schema names are often dotted (com.acme.Txn). */
    private static String messageName(Schema valueSchema) {
        String name = valueSchema.name();
        if (name == null || name.isBlank()) {
            return "record";
        }
        return name.replaceAll("[^A-Za-z0-9_]", "_");
    }
}

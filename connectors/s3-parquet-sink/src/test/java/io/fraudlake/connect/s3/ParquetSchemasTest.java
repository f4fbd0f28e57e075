package io.fraudlake.connect.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.errors.DataException;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.LogicalTypeAnnotation.TimeUnit;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.apache.parquet.schema.Type.Repetition;
import org.junit.jupiter.api.Test;

class ParquetSchemasTest {

    @Test
    void jsonWithSchemaBecomesTypedColumns() {
        Schema value = Records.transaction("t", 0, 0).valueSchema();
        MessageType parquet = ParquetSchemas.toParquet(value, false);

        assertEquals("fraudlake_transaction", parquet.getName());
        assertColumn(parquet, "txn_id", PrimitiveTypeName.BINARY, Repetition.REQUIRED, LogicalTypeAnnotation.stringType());
        assertColumn(parquet, "amount", PrimitiveTypeName.DOUBLE, Repetition.REQUIRED, null);
        assertColumn(parquet, "mcc", PrimitiveTypeName.INT32, Repetition.OPTIONAL, null);
        assertColumn(parquet, "is_fraud", PrimitiveTypeName.BOOLEAN, Repetition.REQUIRED, null);
        assertColumn(parquet, "event_ts", PrimitiveTypeName.INT64, Repetition.REQUIRED,
                LogicalTypeAnnotation.timestampType(true, TimeUnit.MILLIS));
        assertEquals(6, parquet.getFieldCount());
    }

    @Test
    void kafkaMetadataColumnsComeAfterTheValueFields() {
        MessageType parquet = ParquetSchemas.toParquet(Records.transaction("t", 0, 0).valueSchema(), true);
        assertEquals(9, parquet.getFieldCount());
        assertColumn(parquet, "_kafka_partition", PrimitiveTypeName.INT32, Repetition.REQUIRED, null);
        assertColumn(parquet, "_kafka_offset", PrimitiveTypeName.INT64, Repetition.REQUIRED, null);
        assertColumn(parquet, "_kafka_timestamp", PrimitiveTypeName.INT64, Repetition.OPTIONAL,
                LogicalTypeAnnotation.timestampType(true, TimeUnit.MILLIS));
    }

    @Test
    void smallIntegersKeepTheirWidthAsAnnotations() {
        Schema value = SchemaBuilder.struct().field("b", Schema.INT8_SCHEMA).field("s", Schema.OPTIONAL_INT16_SCHEMA).build();
        MessageType parquet = ParquetSchemas.toParquet(value, false);
        assertColumn(parquet, "b", PrimitiveTypeName.INT32, Repetition.REQUIRED, LogicalTypeAnnotation.intType(8, true));
        assertColumn(parquet, "s", PrimitiveTypeName.INT32, Repetition.OPTIONAL, LogicalTypeAnnotation.intType(16, true));
    }

    @Test
    void theEnvelopeHasAivensColumnsInTheConfiguredOrder() {
        Schema value = Records.transaction("t", 0, 0).valueSchema();
        OutputLayout layout = new OutputLayout(
                List.of(OutputLayout.Part.VALUE, OutputLayout.Part.OFFSET, OutputLayout.Part.TIMESTAMP), true, false);
        MessageType parquet = ParquetSchemas.toParquet(Schema.OPTIONAL_STRING_SCHEMA, value, layout);

        assertEquals(List.of("value", "offset", "timestamp"),
                parquet.getFields().stream().map(Type::getName).toList());
        GroupType group = parquet.getType("value").asGroupType();
        assertEquals(Repetition.REQUIRED, group.getRepetition());
        assertEquals(6, group.getFieldCount());
        assertEquals(LogicalTypeAnnotation.stringType(), group.getType("txn_id").getLogicalTypeAnnotation());
        assertColumn(parquet, "offset", PrimitiveTypeName.INT64, Repetition.REQUIRED, null);
        assertColumn(parquet, "timestamp", PrimitiveTypeName.INT64, Repetition.REQUIRED, null);
    }

    @Test
    void nestedStructsAreGroupsButArraysAndMissingSchemasAreRefusedByName() {
        Schema nested = SchemaBuilder.struct()
                .field("txn_id", Schema.STRING_SCHEMA)
                .field("merchant", SchemaBuilder.struct().optional().field("id", Schema.STRING_SCHEMA).build())
                .build();
        GroupType merchant = ParquetSchemas.toParquet(nested, false).getType("merchant").asGroupType();
        assertEquals(Repetition.OPTIONAL, merchant.getRepetition());

        Schema withArray = SchemaBuilder.struct()
                .field("txn_id", Schema.STRING_SCHEMA)
                .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).build())
                .build();
        DataException error = assertThrows(DataException.class, () -> ParquetSchemas.toParquet(withArray, false));
        assertTrue(error.getMessage().contains("field 'tags' has type ARRAY"), error.getMessage());

        DataException schemaless = assertThrows(DataException.class, () -> ParquetSchemas.toParquet(null, false));
        assertTrue(schemaless.getMessage().contains("schemas.enable=true"), schemaless.getMessage());

        Schema clash = SchemaBuilder.struct().field("_kafka_offset", Schema.INT64_SCHEMA).build();
        DataException clashError = assertThrows(DataException.class, () -> ParquetSchemas.toParquet(clash, true));
        assertTrue(clashError.getMessage().contains("_kafka_offset"), clashError.getMessage());
    }

    private static void assertColumn(MessageType parquet, String name, PrimitiveTypeName type, Repetition repetition,
                                     LogicalTypeAnnotation logical) {
        PrimitiveType column = parquet.getType(name).asPrimitiveType();
        assertEquals(type, column.getPrimitiveTypeName(), name);
        assertEquals(repetition, column.getRepetition(), name);
        assertEquals(logical, column.getLogicalTypeAnnotation(), name);
    }
}

"""TabFormer-compatible transaction generator, Kaggle CSV reader/writers and the Kafka producer."""

"""Stage 6, write: rows → Hive-partitioned Parquet datasets under a local or ``gs://`` root.

Public transforms: ``WriteDataset`` (batch: one staged file per partition, one atomic commit per run)
and ``WriteWindowedDataset`` (streaming: one file per partition per window pane). The libraries
beside them: ``rows`` (records → dataset rows and partitions) and ``parquet`` (rows → Parquet bytes,
checked against the contract).
"""

from newsflow.transforms.write.write_dataset import WriteDataset
from newsflow.transforms.write.write_windows import WriteWindowedDataset

__all__ = ["WriteDataset", "WriteWindowedDataset"]

// The one storage-dtype vocabulary, from the file format to the CLI: `ModelDType` is defined in
// SMMFormat (the `.smm` header stores it) and re-exported here, so that a user of the manager
// names it without importing the format module.
@_exported import enum SMMFormat.ModelDType

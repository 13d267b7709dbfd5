// One import for apps: `import SmartModelManager` also brings the engine (`SMMModels`: models,
// loader, generation) and the tokenizers (`SMMTokenizers`), so the direct engine path needs no
// second import. The tokenizers alone are their own product, `SMMTokenizers`.
@_exported import SMMModels
@_exported import SMMTokenizers

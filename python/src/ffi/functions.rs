//! The quality and drift functions, and `rollout_bucket`, as datafusion-python UDFs.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// An aggregate function, for `datafusion.udaf(f)`.
#[pyclass(module = "datafusion_rollout", name = "AggregateFunction", frozen)]
pub struct PyAggregateFunction {
    udaf: Arc<AggregateUDF>,
}

#[pymethods]
impl PyAggregateFunction {
    /// The SQL name.
    #[getter]
    fn name(&self) -> String {
        self.udaf.name().to_string()
    }

    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_AggregateUDF::from(Arc::clone(&self.udaf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_aggregate_udf")
    }

    fn __repr__(&self) -> String {
        format!("AggregateFunction({})", self.udaf.name())
    }
}

/// A scalar function, for `datafusion.udf(f)`.
#[pyclass(module = "datafusion_rollout", name = "ScalarFunction", frozen)]
pub struct PyScalarFunction {
    udf: Arc<ScalarUDF>,
}

#[pymethods]
impl PyScalarFunction {
    /// The SQL name.
    #[getter]
    fn name(&self) -> String {
        self.udf.name().to_string()
    }

    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_ScalarUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_scalar_udf")
    }

    fn __repr__(&self) -> String {
        format!("ScalarFunction({})", self.udf.name())
    }
}

/// Every function a `RolloutContext` registers besides DataFusion's: the udfs crate's (in
/// documentation order), then `rollout_bucket`.
#[pyfunction]
#[pyo3(name = "functions")]
pub fn all_functions(py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
    let all = datafusion_rollout::contract::functions();
    let mut out = Vec::new();
    for udaf in all.aggregate {
        out.push(Py::new(py, PyAggregateFunction { udaf })?.into_any());
    }
    for udf in all.scalar {
        out.push(Py::new(py, PyScalarFunction { udf })?.into_any());
    }
    Ok(out)
}

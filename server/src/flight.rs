//! The Flight SQL service: statements (ours and DataFusion's) and prepared statements run in
//! the caller's session, results streamed as Arrow; the metadata calls BI tools make.
//!
//! A statement runs when its `GetFlightInfo` arrives: a query is planned there (so the version
//! each dataset resolves to is fixed then, and a PROMOTE before `DoGet` cannot change what it
//! reads), one of our statements is executed there (once, whatever the client does next). The
//! plan waits under a random handle for the `DoGet` of the same caller.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, CommandStatementUpdate, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion_rollout::catalog::Privilege;
use datafusion_rollout::statement::{Outcome, Statement};
use futures::{Stream, TryStreamExt, stream};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::sessions::{Session, Sessions};
use crate::status::{status_of, status_of_df};

/// How long a planned query waits for its `DoGet`.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// The largest SQL text accepted (a statement, not a data upload).
pub const MAX_SQL_BYTES: usize = 1 << 20;

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

/// A planned query waiting for its `DoGet`.
struct Pending {
    owner: usize,
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    created: Instant,
}

/// A prepared statement: its text, run when executed.
struct Prepared {
    owner: usize,
    sql: String,
    created: Instant,
}

/// The Flight SQL service of `rollout serve`.
pub struct RolloutFlightSql {
    sessions: Arc<Sessions>,
    pending: Mutex<HashMap<Vec<u8>, Pending>>,
    prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
}

/// What `GetSqlInfo` answers.
fn sql_info() -> Result<SqlInfoData, Status> {
    let mut builder = SqlInfoDataBuilder::new();
    builder.append(SqlInfo::FlightSqlServerName, "datafusion-rollout");
    builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    builder.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    builder.append(SqlInfo::FlightSqlServerReadOnly, false);
    builder.append(SqlInfo::FlightSqlServerSql, true);
    builder.append(SqlInfo::FlightSqlServerSubstrait, false);
    builder.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    builder.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    builder.append(SqlInfo::SqlDdlCatalog, false);
    builder.append(SqlInfo::SqlDdlSchema, false);
    builder.append(SqlInfo::SqlDdlTable, false);
    builder
        .build()
        .map_err(|e| Status::internal(format!("server info: {e}")))
}

/// What a statement did, as JSON for the `app_metadata` of its `FlightInfo`:
/// `{"outcome": "committed", "sequence": 12, "operation": "PROMOTE", "forced": false,
/// "checks": {"pass": 3, "warn": 0, "fail": 1, "error": 0, "pending": 0}}`; `outcome` is
/// [`Outcome::name`], `checks` the counts of [`Outcome::verdict`] (what decides an exit code:
/// none for a FORCEd change), the rest only for a commit. Clients read it instead of the
/// result's text.
fn describe(outcome: &Outcome) -> Vec<u8> {
    let mut value = serde_json::json!({
        "outcome": outcome.name(),
        "checks": outcome.verdict().map(|report| {
            let c = report.counts();
            serde_json::json!({
                "pass": c.pass, "warn": c.warn, "fail": c.fail, "error": c.error,
                "pending": c.pending,
            })
        }),
    });
    if let Outcome::Committed {
        sequence,
        operation,
        forced,
        ..
    } = outcome
    {
        value["sequence"] = (*sequence).into();
        value["operation"] = operation.as_str().into();
        value["forced"] = (*forced).into();
    }
    value.to_string().into_bytes()
}

/// Who owns a handle: the session's address (a handle is usable only by the session that made
/// it).
fn owner_of(session: &Arc<Session>) -> usize {
    Arc::as_ptr(session) as usize
}

fn new_handle() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

impl RolloutFlightSql {
    /// The service over `sessions`.
    pub fn new(sessions: Arc<Sessions>) -> Self {
        Self {
            sessions,
            pending: Mutex::default(),
            prepared: Mutex::default(),
        }
    }

    /// The sessions (for shutdown).
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    async fn session<T>(&self, request: &Request<T>) -> Result<Arc<Session>, Status> {
        self.sessions.session(request.metadata()).await
    }

    /// Runs `sql` in `session` and plans its result; returns the handle, the schema and what
    /// the statement did ([`describe`]).
    async fn run(
        &self,
        session: &Arc<Session>,
        sql: &str,
    ) -> Result<(Vec<u8>, Arc<Schema>, Vec<u8>), Status> {
        if sql.len() > MAX_SQL_BYTES {
            return Err(Status::invalid_argument(format!(
                "the SQL text is {} bytes; at most {MAX_SQL_BYTES} are accepted",
                sql.len()
            )));
        }
        let started = Instant::now();
        let ctx = &session.ctx;
        let statements = ctx.parse(sql).map_err(|e| status_of(&e))?;
        let shown: Vec<String> = statements.iter().map(Statement::to_string).collect();
        let result = async {
            let Some((last, first)) = statements.split_last() else {
                return Err(Status::invalid_argument("no SQL statement given"));
            };
            for statement in first {
                ctx.execute(statement).await.map_err(|e| status_of(&e))?;
            }
            let outcome = ctx.execute(last).await.map_err(|e| status_of(&e))?;
            let described = describe(&outcome);
            let frame = outcome
                .into_frame(ctx.session())
                .map_err(|e| status_of(&e))?;
            let task = Arc::new(frame.task_ctx());
            let plan = frame.create_physical_plan().await.map_err(status_of_df)?;
            Ok((plan, task, described))
        }
        .await;
        // One line per request: who, what (secrets printed redacted), how it ended.
        let who = session.ctx.actor();
        let code = match &result {
            Ok(_) => "ok".to_string(),
            Err(s) => format!("{:?}", s.code()),
        };
        let elapsed = started.elapsed();
        self.sessions.metrics().statement(&code, elapsed);
        crate::log::line(
            "statement",
            &[
                ("principal", who.as_str()),
                ("status", &code),
                ("elapsed_ms", &elapsed.as_millis().to_string()),
                ("sql", &shown.join("; ")),
            ],
        );
        let (plan, task, described) = result?;
        let schema = plan.schema();
        let handle = new_handle();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        pending.insert(
            handle.clone(),
            Pending {
                owner: owner_of(session),
                plan,
                task,
                created: Instant::now(),
            },
        );
        Ok((handle, schema, described))
    }

    /// The `FlightInfo` of a planned statement: its ticket names the handle.
    fn info(
        schema: &Schema,
        handle: Vec<u8>,
        described: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = TicketStatementQuery {
            statement_handle: handle.into(),
        };
        let info = Self::command_info(ticket, schema, descriptor)?.into_inner();
        Ok(Response::new(info.with_app_metadata(described)))
    }

    /// A `FlightInfo` whose ticket is `command` (a statement handle, or a metadata call itself).
    fn command_info(
        command: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let endpoint =
            FlightEndpoint::new().with_ticket(Ticket::new(command.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("encoding the schema: {e}")))?
            .with_endpoint(endpoint)
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }
}

/// The one column of `GetTableTypes`.
fn table_types_schema() -> Schema {
    Schema::new(vec![datafusion::arrow::datatypes::Field::new(
        "table_type",
        datafusion::arrow::datatypes::DataType::Utf8,
        false,
    )])
}

/// A stream of one batch.
fn one_batch(batch: Result<RecordBatch, FlightError>, schema: Arc<Schema>) -> DoGetStream {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(stream::once(async { batch }))
            .map_err(Status::from),
    )
}

#[tonic::async_trait]
impl FlightSqlService for RolloutFlightSql {
    type FlightService = RolloutFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let bearer = self.sessions.handshake(request.metadata()).await?;
        let payload = bearer.clone();
        let out = stream::once(async move {
            Ok(HandshakeResponse {
                protocol_version: 0,
                payload: payload.into(),
            })
        });
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(out));
        let value = MetadataValue::try_from(format!("Bearer {bearer}"))
            .map_err(|_| Status::internal("the bearer token is not a header value"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        let (handle, schema, described) = self.run(&session, &query.query).await?;
        Self::info(&schema, handle, described, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ticket.statement_handle.as_ref())
            .ok_or_else(|| {
                Status::not_found("unknown or expired statement handle (each is read once)")
            })?;
        if pending.owner != owner_of(&session) {
            return Err(Status::permission_denied(
                "the statement handle belongs to another session",
            ));
        }
        let schema = pending.plan.schema();
        let batches = execute_stream(pending.plan, pending.task)
            .map_err(status_of_df)?
            .map_err(|e| FlightError::from_external_error(Box::new(e)));
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(flight)))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let (handle, _, _) = self.run(&session, &command.query).await?;
        // The statement ran; a result table it may have is not read by an update.
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&handle);
        Ok(0)
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request).await?;
        if query.query.len() > MAX_SQL_BYTES {
            return Err(Status::invalid_argument(format!(
                "the SQL text is {} bytes; at most {MAX_SQL_BYTES} are accepted",
                query.query.len()
            )));
        }
        // Parsed now, so that a typo fails at prepare; planned and run at execute.
        let statements = session.ctx.parse(&query.query).map_err(|e| status_of(&e))?;
        let schema = match statements.as_slice() {
            [Statement::DataFusion(s)] => {
                let plan = session
                    .ctx
                    .session()
                    .state()
                    .statement_to_plan(s.as_ref().clone())
                    .await
                    .map_err(status_of_df)?;
                plan.schema().as_arrow().clone()
            }
            _ => Schema::empty(),
        };
        let message: IpcMessage = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e| Status::internal(format!("encoding the schema: {e}")))?;
        let handle = new_handle();
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        prepared.retain(|_, p| p.created.elapsed() < PENDING_TTL * 6);
        prepared.insert(
            handle.clone(),
            Prepared {
                owner: owner_of(&session),
                sql: query.query,
                created: Instant::now(),
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: message.0,
            parameter_schema: Default::default(),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        let sql = {
            let prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
            let p = prepared
                .get(query.prepared_statement_handle.as_ref())
                .ok_or_else(|| Status::not_found("unknown or closed prepared statement"))?;
            if p.owner != owner_of(&session) {
                return Err(Status::permission_denied(
                    "the prepared statement belongs to another session",
                ));
            }
            p.sql.clone()
        };
        let (handle, schema, described) = self.run(&session, &sql).await?;
        Self::info(&schema, handle, described, request.into_inner())
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let session = self.session(&request).await?;
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if prepared
            .get(query.prepared_statement_handle.as_ref())
            .is_some_and(|p| p.owner == owner_of(&session))
        {
            prepared.remove(query.prepared_statement_handle.as_ref());
        }
        Ok(())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder(&sql_info()?).schema();
        Self::command_info(query, schema.as_ref(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request).await?;
        let info = sql_info()?;
        let builder = query.into_builder(&info);
        let schema = builder.schema();
        Ok(Response::new(one_batch(builder.build(), schema)))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.into_builder().schema();
        Self::command_info(query, schema.as_ref(), request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let mut builder = query.into_builder();
        for catalog in session.ctx.session().catalog_names() {
            builder.append(catalog);
        }
        let schema = builder.schema();
        Ok(Response::new(one_batch(builder.build(), schema)))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder().schema();
        Self::command_info(query, schema.as_ref(), request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let ctx = session.ctx.session();
        let mut builder = query.into_builder();
        for catalog_name in ctx.catalog_names() {
            if let Some(catalog) = ctx.catalog(&catalog_name) {
                for schema_name in catalog.schema_names() {
                    builder.append(&catalog_name, schema_name);
                }
            }
        }
        let schema = builder.schema();
        Ok(Response::new(one_batch(builder.build(), schema)))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder().schema();
        Self::command_info(query, schema.as_ref(), request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let ctx = session.ctx.session();
        let state = self.sessions.store().state();
        let mut builder = query.into_builder();
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table_name in schema.table_names() {
                    // A dataset the caller may not read is not listed.
                    if state.datasets.contains_key(&table_name)
                        && let Some(p) = &session.principal
                        && !state.access.holds(p, Privilege::Read, Some(&table_name))
                    {
                        continue;
                    }
                    let Ok(Some(table)) = schema.table(&table_name).await else {
                        continue;
                    };
                    let kind = if schema_name == "information_schema" {
                        "VIEW"
                    } else {
                        "TABLE"
                    };
                    builder
                        .append(
                            &catalog_name,
                            &schema_name,
                            &table_name,
                            kind,
                            &table.schema(),
                        )
                        .map_err(Status::from)?;
                }
            }
        }
        let schema = builder.schema();
        Ok(Response::new(one_batch(builder.build(), schema)))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        Self::command_info(query, &table_types_schema(), request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request).await?;
        let schema = Arc::new(table_types_schema());
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![
                "TABLE", "VIEW",
            ]))],
        )
        .map_err(FlightError::from);
        Ok(Response::new(one_batch(batch, schema)))
    }

    async fn do_get_fallback(
        &self,
        _request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Err(Status::unimplemented(format!(
            "this server does not answer {}",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The reasoning node: instructions in; constraint programs, grounded regions and status out.

A thin adapter over :class:`resem3d_reasoning.task_runner.TaskRunner`: serves the instruct
service and the execute-instruction action, observes through perception's observe service,
publishes programs (transient local), grounded regions and the task status, and follows each
program through the controller's status and the residuals (``execution.GraphExecutor``).
"""

import threading

import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from resem3d_msgs.action import ExecuteInstruction
from resem3d_msgs.msg import ConstraintProgram, ConstraintResidual, RegionArray, TaskStatus
from resem3d_msgs.srv import Instruct, Observe

from resem3d_constraints import ros_conversions as rcv
from resem3d_constraints.ros_types import RclpyMessageTypes
from resem3d_reasoning.execution import GraphExecutor, ProgressConfig
from resem3d_reasoning.ros_observation import (ObservationError, grounded_regions_to_msg,
                                               observation_from_response)
from resem3d_reasoning.settings import (ReasoningSettings, client_options, load_settings,
                                        make_task_client)
from resem3d_reasoning.task_runner import RunnerConfig, TaskRunner

PARAMETERS = {
    'config_file': '', 'perception_config_file': '', 'use_sim': False,
    'mllm_backend': '', 'mllm_model': '', 'mllm_base_url': '', 'transcript_dir': '',
    'instruct_service': '/resem3d/instruct', 'action_name': '/resem3d/execute_instruction',
    'observe_service': '/resem3d/observe', 'program_topic': '/resem3d/program',
    'task_status_topic': '/resem3d/task_status', 'residuals_topic': '/resem3d/residuals',
    'controller_status_topic': '/resem3d/controller_status',
    'grounded_regions_topic': '/resem3d/grounded_regions', 'base_frame': 'fr3_link0',
    'observe_timeout_s': 30.0, 'subtask_timeout_s': 120.0, 'status_settle_s': 0.5,
    'max_execution_retries': 1, 'max_instruction_chars': 500,
}


class ReasoningNode(Node):
    """ROS adapter of the task runner (node name ``reasoning``)."""

    def __init__(self) -> None:
        super().__init__('reasoning')
        p = {name: self.declare_parameter(name, default).value
             for name, default in PARAMETERS.items()}
        self.p = p
        self.types = RclpyMessageTypes()
        settings = (load_settings(p['config_file'], p['perception_config_file'] or None)
                    if p['config_file'] else ReasoningSettings())
        options = client_options(settings.mllm, backend=p['mllm_backend'],
                                 model=p['mllm_model'], base_url=p['mllm_base_url'],
                                 transcript=p['transcript_dir'])
        client = make_task_client(options, use_sim=p['use_sim'], record_dir=p['transcript_dir'])
        self.transcript = getattr(client, 'transcript', None)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.program_pub = self.create_publisher(ConstraintProgram, p['program_topic'], latched)
        self.grounded_pub = self.create_publisher(RegionArray, p['grounded_regions_topic'],
                                                  latched)
        self.status_pub = self.create_publisher(TaskStatus, p['task_status_topic'], 10)
        group = ReentrantCallbackGroup()
        self.observe_client = self.create_client(Observe, p['observe_service'],
                                                 callback_group=group)
        self.executor_core = GraphExecutor(
            self.publish_program, ProgressConfig(p['subtask_timeout_s'], p['status_settle_s']),
            clock_ns=self.now_ns)
        self.create_subscription(ConstraintResidual, p['residuals_topic'],
                                 self.residuals_callback, 10, callback_group=group)
        self.create_subscription(TaskStatus, p['controller_status_topic'],
                                 self.controller_status_callback, 10, callback_group=group)
        self.goal = None                      # (task id, goal handle) of the running action
        self.runner = TaskRunner(
            client, settings.engine, observe=self.observe, executor=self.executor_core,
            on_status=self.publish_status, on_grounded=self.publish_grounded,
            on_feedback=self.feedback, clock_ns=self.now_ns,
            config=RunnerConfig(p['max_instruction_chars'], p['max_execution_retries']))
        self.create_service(Instruct, p['instruct_service'], self.instruct_callback,
                            callback_group=group)
        self.action_server = ActionServer(
            self, ExecuteInstruction, p['action_name'], execute_callback=self.execute_callback,
            goal_callback=self.goal_callback, cancel_callback=self.cancel_callback,
            callback_group=group)
        self.publish_status(self.runner.status)
        self.get_logger().info(f'reasoning ready: backend {options["backend"]} '
                               f'(model {client.model})')

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def observe(self):
        """Ask perception for an observation (called from the task's worker thread)."""
        timeout = self.p['observe_timeout_s']
        if not self.observe_client.wait_for_service(timeout_sec=timeout):
            raise ObservationError(f'perception\'s {self.p["observe_service"]} service is not '
                                   f'available after {timeout:g} s')
        done = threading.Event()
        future = self.observe_client.call_async(Observe.Request(draw_marks=True,
                                                                include_masks=True))
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout) or future.result() is None:
            raise ObservationError(f'no observation from perception within {timeout:g} s')
        return observation_from_response(future.result())

    def publish_program(self, program, task_id: str, subtask_index: int) -> None:
        self.program_pub.publish(rcv.program_to_msg(
            self.types, program, frame_id=self.p['base_frame'], stamp_ns=self.now_ns(),
            task_id=task_id, subtask_index=subtask_index))

    def publish_grounded(self, store, stamps) -> None:
        self.grounded_pub.publish(grounded_regions_to_msg(
            self.types, store, stamps, frame_id=self.p['base_frame'], stamp_ns=self.now_ns()))

    def publish_status(self, status) -> None:
        self.status_pub.publish(rcv.task_status_to_msg(self.types, status))
        self.get_logger().info(f'{status.task_id or "idle"}: {status.state.value} '
                               f'{status.subtask} {status.stage} {status.message}')

    def feedback(self, status, residuals) -> None:
        goal = self.goal
        if goal is not None and goal[0] == status.task_id:
            goal[1].publish_feedback(rcv.feedback_to_msg(self.types, status, residuals))

    def residuals_callback(self, msg: ConstraintResidual) -> None:
        self.feed(self.executor_core.feed_residuals, rcv.residuals_from_msg, msg)

    def controller_status_callback(self, msg: TaskStatus) -> None:
        self.feed(self.executor_core.feed_status, rcv.task_status_from_msg, msg)

    def feed(self, sink, convert, msg) -> None:
        try:
            sink(convert(msg))
        except ValueError as error:
            self.get_logger().error(f'{type(msg).__name__} rejected: {error}',
                                    throttle_duration_sec=5.0)

    def instruct_callback(self, request, response):
        submission = self.runner.submit(request.instruction, request.task_name)
        response.accepted, response.task_id = submission.accepted, submission.task_id
        response.message = submission.message
        return response

    def goal_callback(self, goal_request) -> GoalResponse:
        return GoalResponse.REJECT if self.runner.busy else GoalResponse.ACCEPT

    def cancel_callback(self, goal_handle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def execute_callback(self, goal_handle):
        goal = goal_handle.request
        submission = self.runner.submit(goal.instruction, goal.task_name)
        if not submission.accepted:
            goal_handle.abort()
            return ExecuteInstruction.Result(success=False, reason=submission.message)
        self.goal = (submission.task_id, goal_handle)
        outcome = None
        while outcome is None:
            if goal_handle.is_cancel_requested:
                self.runner.cancel(submission.task_id)
            outcome = self.runner.wait(submission.task_id, timeout_s=0.1)
        self.goal = None
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif outcome.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return ExecuteInstruction.Result(
            success=outcome.success, reason=outcome.reason, task_id=outcome.task_id,
            duration_s=outcome.duration_s, subtasks_completed=outcome.subtasks_completed,
            subtask_count=outcome.subtask_count, replans=outcome.replans)

    def destroy_node(self) -> None:
        self.runner.cancel()
        if self.transcript is not None:
            self.transcript.close()
        super().destroy_node()


def main(args=None):
    rclpy.init(args=args)
    node = None
    try:
        node = ReasoningNode()
        rclpy.spin(node, executor=MultiThreadedExecutor(num_threads=4))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
